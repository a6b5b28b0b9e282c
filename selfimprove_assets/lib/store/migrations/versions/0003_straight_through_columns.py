"""straight-through processing: whether a document needs review, and the QA sample

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 00:20:00.000000

``needs_review`` is what the predicting versions' cut-offs decided at upload (NULL for documents
stored before them: they all need review); ``qa_sample`` marks a straight-through document drawn
at random for a reviewer anyway, so that the accuracy of what is auto-accepted is measured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("needs_review", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column("qa_sample", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_documents_needs_review", ["needs_review"])


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_needs_review")
        batch.drop_column("qa_sample")
        batch.drop_column("needs_review")

"""review queue: the predicted type and the least confidence of a document

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:40:00.000000

The review queue filters by predicted type and orders by the least certain prediction; both
live in the documents table so that neither needs to read the feedback JSON per request.
Existing documents are back-filled from their stored predictions.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _least_confidence(predicted: dict[str, Any] | None) -> float | None:
    values: list[float] = []
    if predicted:
        if isinstance(predicted.get("confidence"), int | float):
            values.append(float(predicted["confidence"]))
        for entity in predicted.get("entities") or []:
            if isinstance(entity, dict) and isinstance(entity.get("confidence"), int | float):
                values.append(float(entity["confidence"]))
    return min(values) if values else None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("predicted_doc_type", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("min_confidence", sa.Float(), nullable=True))
        batch.create_index("ix_documents_min_confidence", ["min_confidence"])
        batch.create_index("ix_documents_created_at", ["created_at"])
        batch.create_index("ix_documents_predicted_doc_type", ["predicted_doc_type"])
    # The queue's review-state filters read only these columns per document (index-only).
    op.create_index(
        "ix_feedback_document_state",
        "feedback_data",
        ["document_id", "reviewed_at", "committed_at"],
    )
    documents = sa.table(
        "documents",
        sa.column("id", sa.String()),
        sa.column("predicted_doc_type", sa.String()),
        sa.column("min_confidence", sa.Float()),
    )
    feedback = sa.table(
        "feedback_data",
        sa.column("document_id", sa.String()),
        sa.column("model_type", sa.String()),
        sa.column("predicted", sa.JSON()),
    )
    conn = op.get_bind()
    found: dict[str, dict[str, Any]] = {}
    for row in conn.execute(sa.select(feedback.c.document_id, feedback.c.model_type, feedback.c.predicted)):
        entry = found.setdefault(row.document_id, {"doc_type": None, "values": []})
        predicted = row.predicted or {}
        if row.model_type == "classifier" and isinstance(predicted.get("doc_type"), str):
            entry["doc_type"] = predicted["doc_type"][:100]
        least = _least_confidence(predicted)
        if least is not None:
            entry["values"].append(least)
    for document_id, entry in found.items():
        conn.execute(
            documents.update()
            .where(documents.c.id == document_id)
            .values(
                predicted_doc_type=entry["doc_type"],
                min_confidence=min(entry["values"]) if entry["values"] else None,
            )
        )


def downgrade() -> None:
    op.drop_index("ix_feedback_document_state", table_name="feedback_data")
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_predicted_doc_type")
        batch.drop_index("ix_documents_created_at")
        batch.drop_index("ix_documents_min_confidence")
        batch.drop_column("min_confidence")
        batch.drop_column("predicted_doc_type")

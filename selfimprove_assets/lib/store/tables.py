"""The feedback store's tables (SQLAlchemy 2 declarative models).

One schema serves SQLite (embedded default) and PostgreSQL (production). JSON columns hold
predictions and verified metadata as the API sends them; everything the monitor reads on a hot
path lives in ``feedback_counters`` so that live accuracy never scans ``feedback_data``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    filename: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int] = mapped_column(Integer)
    ocr_pages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pages_uri: Mapped[str] = mapped_column(String(1024))
    blob_uri: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(32), default="api")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    # For the review queue (filter by type, least certain first) without reading the JSON.
    predicted_doc_type: Mapped[str | None] = mapped_column(String(100), index=True)
    min_confidence: Mapped[float | None] = mapped_column(Float, index=True)
    # Straight-through processing (0003): the routing at upload (None: stored before it, needs
    # review) and whether a straight-through document was drawn for QA review.
    needs_review: Mapped[bool | None] = mapped_column(Boolean, index=True)
    qa_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CommitRow(Base):
    """One commit batch; its id is the monotone cursor the sensors follow."""

    __tablename__ = "commits"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    committed_by: Mapped[str | None] = mapped_column(String(100))
    requested: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)


class _FeedbackColumns:
    """Columns shared by live feedback and its archive (same shape by design)."""

    document_id: Mapped[str] = mapped_column(String(64), index=True)
    model_type: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(32))
    predicted: Mapped[dict[str, Any]] = mapped_column(JSON)
    verified: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    commit_id: Mapped[int | None] = mapped_column(BigInteger)
    corrected: Mapped[bool | None] = mapped_column(Boolean)
    field_outcomes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    retrained: Mapped[bool] = mapped_column(Boolean, default=False)
    retrain_cycle: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedbackRow(_FeedbackColumns, Base):
    __tablename__ = "feedback_data"
    __table_args__ = (
        UniqueConstraint("document_id", "model_type", name="uq_feedback_document_model"),
        Index("ix_feedback_version_commit", "model_type", "model_version", "commit_id"),
        Index("ix_feedback_cycle", "retrain_cycle"),
        # The review queue's state filters (see list_documents), read index-only.
        Index("ix_feedback_document_state", "document_id", "reviewed_at", "committed_at"),
        # Archived rows keep their id: SQLite must never hand a deleted id out again.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )


class FeedbackArchiveRow(_FeedbackColumns, Base):
    __tablename__ = "feedback_archive"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    archived_by_version: Mapped[str | None] = mapped_column(String(32))


class ModelRow(Base):
    """The model table: one row per registered version that the loop knows about.

    The registry (MLflow) is the source of truth for versions and the ``champion`` alias; this
    table mirrors the default flag and holds the retrain state, thresholds and baseline metrics.
    The retrain state lives on the default row, as the state of retraining *from* that default.
    """

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("model_type", "version", name="uq_model_type_version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    model_type: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[str] = mapped_column(String(32))
    registry_name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    retrain_state: Mapped[str] = mapped_column(String(16), default="IDLE")
    state_reason: Mapped[str | None] = mapped_column(String(2000))
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    baseline_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent_version: Mapped[str | None] = mapped_column(String(32))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    commits_at_deploy: Mapped[int] = mapped_column(BigInteger, default=0)


class RetrainCycleRow(Base):
    """One attempt at producing a better version from a given default."""

    __tablename__ = "retrain_cycles"
    __table_args__ = (UniqueConstraint("cycle_id", "attempt", name="uq_cycle_attempt"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    model_type: Mapped[str] = mapped_column(String(32), index=True)
    parent_version: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    candidate_version: Mapped[str | None] = mapped_column(String(32))
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CounterRow(Base):
    """Running counts per model version and field, updated in the commit's transaction.

    For the classifier the field is ``doc_type`` (``committed``/``corrected``). For the
    extractor each entity label is a field with per-entity outcome counts; ``committed`` and
    ``corrected`` count documents in which the label occurred.
    """

    __tablename__ = "feedback_counters"

    model_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    field: Mapped[str] = mapped_column(String(200), primary_key=True)
    committed: Mapped[int] = mapped_column(BigInteger, default=0)
    corrected: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    modified: Mapped[int] = mapped_column(BigInteger, default=0)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    removed: Mapped[int] = mapped_column(BigInteger, default=0)
    last_commit_id: Mapped[int] = mapped_column(BigInteger, default=0)

"""Every query the feedback store runs. Nothing else in selfimprove writes SQL.

The commit path is the one that matters most: a committed correction is the product's most
valuable data. ``commit_documents`` locks the batch's feedback rows, marks them committed with
one conditional UPDATE (``WHERE committed_at IS NULL``) and adds to the counters in the same
transaction, so a concurrent double commit counts once and a failure leaves nothing
half-written. It runs a fixed handful of Core statements per batch (no ORM objects): at 20
concurrent clients the per-statement round trips and compilation were the cost.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from selfimprove_assets.lib.store.engine import READ_ONLY_OPTION, make_engine, upgrade_schema
from selfimprove_assets.lib.store.models import (
    CommitRow,
    CounterRow,
    DocumentRow,
    FeedbackArchiveRow,
    FeedbackRow,
    ModelRow,
    RetrainCycleRow,
    utcnow,
)
from selfimprove_assets.lib.store.outcomes import OUTCOME_KEYS, compute_outcome
from selfimprove_assets.lib.types import RetrainState

COUNTER_COLUMNS = ("committed", "corrected", *OUTCOME_KEYS)
_COUNTER_KEY = ("model_type", "model_version", "field")
NO_MODEL_VERSION = ""
"""``model_version`` of the feedback row of a model type that served nothing (the data did not
need it, e.g. no classifier for a one-type corpus): reviewed and committed like any other row,
so the verified values are kept, but never counted toward a model."""
_COUNTER_ARRAY_COLUMNS = (*_COUNTER_KEY, *COUNTER_COLUMNS)

# PostgreSQL's commit statements take the batch as arrays: one statement per batch whatever its
# size, and a constant SQL text (cached by SQLAlchemy, prepared by psycopg after a few uses).
_PG_MARK_COMMITTED = text(
    """
    UPDATE feedback_data AS f
    SET committed_at = CAST(:now AS TIMESTAMPTZ), commit_id = CAST(:commit_id AS BIGINT),
        corrected = b.corrected, field_outcomes = CAST(b.field_outcomes AS JSON)
    FROM unnest(
        CAST(:ids AS BIGINT[]), CAST(:corrected AS BOOLEAN[]), CAST(:field_outcomes AS TEXT[])
    ) AS b(id, corrected, field_outcomes)
    WHERE f.id = b.id AND f.committed_at IS NULL
    """
)
_COUNTER_ARRAYS = ", ".join(
    f"CAST(:{c} AS {'VARCHAR' if c in _COUNTER_KEY else 'BIGINT'}[])"
    for c in _COUNTER_ARRAY_COLUMNS
)
_COUNTER_SUMS = ", ".join(f"{c} = feedback_counters.{c} + excluded.{c}" for c in COUNTER_COLUMNS)
_PG_ADD_TO_COUNTERS = text(
    f"""
    INSERT INTO feedback_counters ({", ".join(_COUNTER_ARRAY_COLUMNS)}, last_commit_id)
    SELECT {", ".join(f"d.{c}" for c in _COUNTER_ARRAY_COLUMNS)}, CAST(:commit_id AS BIGINT)
    FROM unnest({_COUNTER_ARRAYS}) WITH ORDINALITY AS d({", ".join(_COUNTER_ARRAY_COLUMNS)}, ord)
    ORDER BY d.ord
    ON CONFLICT (model_type, model_version, field) DO UPDATE SET {_COUNTER_SUMS},
        last_commit_id = greatest(feedback_counters.last_commit_id, excluded.last_commit_id)
    """
)


class _Memo(dict[Hashable, Any]):
    """``memo[key]`` is ``fn(key)``, computed once per distinct key (C-speed lookups after)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Hashable) -> Any:
        value = self[key] = self.fn(key)
        return value


def _as_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp (UTC; naive where SQLite dropped the zone) with ``timezone.utc``.

    psycopg hands out the session's ``ZoneInfo``, which pandas converts ~10x slower (3 s of a
    curation's 500k rows) than the fixed UTC offset.
    """
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoreError(Exception):
    """A request the store cannot honour; ``kind`` maps to an HTTP status in the API."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


class NotFound(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "not_found")


class Conflict(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "conflict")


@dataclass
class CommitResult:
    commit_id: int | None
    committed: list[str] = field(default_factory=list)
    already_committed: list[str] = field(default_factory=list)
    not_reviewed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    corrected: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit_id": self.commit_id,
            "committed": len(self.committed),
            "already_committed": len(self.already_committed),
            "not_reviewed": len(self.not_reviewed),
            "unknown": len(self.unknown),
            "corrected": dict(self.corrected),
            "document_ids": {
                "committed": self.committed,
                "already_committed": self.already_committed,
                "not_reviewed": self.not_reviewed,
                "unknown": self.unknown,
            },
        }


@dataclass
class ModelInfo:
    model_type: str
    version: str
    registry_name: str
    is_default: bool
    retrain_state: str
    state_reason: str | None
    thresholds: dict[str, float]
    baseline_metrics: dict[str, Any]
    parent_version: str | None
    mlflow_run_id: str | None
    commits_at_deploy: int
    promoted_at: datetime | None

    @classmethod
    def from_row(cls, row: ModelRow) -> ModelInfo:
        return cls(
            model_type=row.model_type,
            version=row.version,
            registry_name=row.registry_name,
            is_default=row.is_default,
            retrain_state=row.retrain_state,
            state_reason=row.state_reason,
            thresholds=dict(row.thresholds or {}),
            baseline_metrics=dict(row.baseline_metrics or {}),
            parent_version=row.parent_version,
            mlflow_run_id=row.mlflow_run_id,
            commits_at_deploy=int(row.commits_at_deploy or 0),
            promoted_at=row.promoted_at,
        )


@dataclass
class CycleInfo:
    cycle_id: str
    attempt: int
    model_type: str
    parent_version: str
    state: str
    trigger: dict[str, Any]
    candidate_version: str | None
    decision: dict[str, Any] | None
    dagster_run_id: str | None


def _cycle_info(row: RetrainCycleRow) -> CycleInfo:
    return CycleInfo(
        cycle_id=row.cycle_id,
        attempt=row.attempt,
        model_type=row.model_type,
        parent_version=row.parent_version,
        state=row.state,
        trigger=dict(row.trigger or {}),
        candidate_version=row.candidate_version,
        decision=row.decision,
        dagster_run_id=row.dagster_run_id,
    )


def _table(model: Any) -> Table:
    """The Core table of a declarative model (``__table__`` is typed as a FromClause)."""
    return model.__table__


def feedback_to_dict(row: FeedbackRow) -> dict[str, Any]:
    return {
        "feedback_id": row.id,
        "document_id": row.document_id,
        "model_type": row.model_type,
        "model_version": row.model_version,
        "predicted": row.predicted,
        "verified": row.verified,
        "reviewer": row.reviewer,
        "reviewed_at": row.reviewed_at,
        "committed_at": row.committed_at,
        "commit_id": row.commit_id,
        "corrected": row.corrected,
        "field_outcomes": row.field_outcomes or {},
        "retrained": row.retrained,
        "retrain_cycle": row.retrain_cycle,
    }


QUEUE_STATUSES = ("unreviewed", "reviewed", "committed")
QUEUE_ORDERS = ("created", "newest", "confidence")


def _queue_columns(
    predictions: Sequence[tuple[str, str, dict[str, Any]]],
) -> tuple[str | None, float | None]:
    """The predicted type and the least confidence of a document's predictions (for the
    review queue): the classifier's confidence and every predicted entity's."""
    doc_type: str | None = None
    values: list[float] = []
    for model_type, _version, predicted in predictions:
        if model_type == "classifier" and isinstance(predicted.get("doc_type"), str):
            doc_type = str(predicted["doc_type"])[:100]
        confidence = predicted.get("confidence")
        if isinstance(confidence, int | float):
            values.append(float(confidence))
        for entity in predicted.get("entities") or []:
            if isinstance(entity, dict) and isinstance(entity.get("confidence"), int | float):
                values.append(float(entity["confidence"]))
    return doc_type, (min(values) if values else None)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class FeedbackStore:
    """The repository over documents, feedback, counters, the model table and retrain cycles."""

    def __init__(self, url: str, *, migrate: bool = True, engine: Engine | None = None) -> None:
        self.url = url
        if migrate:
            upgrade_schema(url)
        self.engine = engine or make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        """A connection for reads only: on SQLite its transaction is a deferred one (a WAL
        snapshot that does not hold the write lock), so a long read never blocks a commit."""
        with self.engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn:
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ---------------------------------------------------------------- documents

    def add_document(
        self,
        *,
        content_hash: str,
        media_type: str,
        size_bytes: int,
        page_count: int,
        pages_uri: str,
        blob_uri: str,
        filename: str | None = None,
        external_id: str | None = None,
        ocr_pages: Sequence[int] = (),
        source: str = "api",
        document_id: str | None = None,
        predictions: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> str:
        """Insert a document and, in the same transaction, one feedback row per prediction.

        ``predictions`` holds ``(model_type, model_version, predicted)`` tuples, so a document
        never exists without the record of which versions predicted it.
        """
        doc_id = document_id or uuid.uuid4().hex
        doc_type, least = _queue_columns(predictions)
        with self.session() as s:
            s.add(
                DocumentRow(
                    id=doc_id,
                    content_hash=content_hash,
                    external_id=external_id,
                    filename=filename,
                    media_type=media_type,
                    size_bytes=size_bytes,
                    page_count=page_count,
                    ocr_pages=list(ocr_pages),
                    pages_uri=pages_uri,
                    blob_uri=blob_uri,
                    source=source,
                    predicted_doc_type=doc_type,
                    min_confidence=least,
                )
            )
            s.flush()
            for model_type, version, predicted in predictions:
                s.add(
                    FeedbackRow(
                        document_id=doc_id,
                        model_type=model_type,
                        model_version=version,
                        predicted=predicted,
                    )
                )
        return doc_id

    def get_document(self, document_id: str) -> dict[str, Any]:
        with self.session() as s:
            doc = s.get(DocumentRow, document_id)
            if doc is None:
                raise NotFound(f"document {document_id!r} does not exist")
            rows = s.scalars(select(FeedbackRow).where(FeedbackRow.document_id == document_id))
            feedback = {r.model_type: feedback_to_dict(r) for r in rows}
            commit_ids = {f["commit_id"] for f in feedback.values() if f["commit_id"] is not None}
            if commit_ids:
                by_commit = {
                    row.id: row.committed_by
                    for row in s.execute(
                        select(CommitRow.id, CommitRow.committed_by).where(
                            CommitRow.id.in_(commit_ids)
                        )
                    )
                }
                for f in feedback.values():
                    f["committed_by"] = by_commit.get(f["commit_id"])
            return {
                "id": doc.id,
                "content_hash": doc.content_hash,
                "external_id": doc.external_id,
                "filename": doc.filename,
                "media_type": doc.media_type,
                "size_bytes": doc.size_bytes,
                "page_count": doc.page_count,
                "ocr_pages": list(doc.ocr_pages or []),
                "pages_uri": doc.pages_uri,
                "blob_uri": doc.blob_uri,
                "source": doc.source,
                "created_at": doc.created_at,
                "feedback": feedback,
            }

    def count_documents(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(DocumentRow)) or 0)

    # ---------------------------------------------------------------- review queue

    def list_documents(
        self,
        *,
        status: str | None = None,
        doc_type: str | None = None,
        model_version: str | None = None,
        model_type: str | None = None,
        since: datetime | None = None,
        order: str = "created",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of the review queue and the number of documents that match in all.

        ``status`` is ``unreviewed`` (some prediction not reviewed yet), ``reviewed`` (all
        reviewed, not all committed) or ``committed``; ``doc_type`` filters the predicted type,
        ``model_version`` (optionally of one ``model_type``) the versions that predicted;
        ``since`` keeps documents uploaded at or after it. ``order`` is ``created`` (oldest
        first: a queue), ``newest`` or ``confidence`` (least certain prediction first; documents
        without a confidence last). Each item carries its feedback rows' review state.
        """
        if status not in (None, *QUEUE_STATUSES):
            raise StoreError(f"unknown status {status!r}: use {', '.join(QUEUE_STATUSES)}")
        if order not in QUEUE_ORDERS:
            raise StoreError(f"unknown order {order!r}: use {', '.join(QUEUE_ORDERS)}")
        doc = _table(DocumentRow)
        fb = _table(FeedbackRow)

        def rows_where(*conditions: Any) -> Any:
            return select(fb.c.id).where(fb.c.document_id == doc.c.id, *conditions).exists()

        conditions: list[Any] = []
        if status == "unreviewed":
            conditions.append(rows_where(fb.c.reviewed_at.is_(None)))
        elif status == "reviewed":
            conditions.append(~rows_where(fb.c.reviewed_at.is_(None)))
            conditions.append(rows_where(fb.c.committed_at.is_(None)))
        elif status == "committed":
            conditions.append(~rows_where(fb.c.committed_at.is_(None)))
        if doc_type is not None:
            conditions.append(doc.c.predicted_doc_type == doc_type)
        if model_version is not None:
            version_match = [fb.c.model_version == model_version]
            if model_type is not None:
                version_match.append(fb.c.model_type == model_type)
            conditions.append(rows_where(*version_match))
        if since is not None:
            conditions.append(doc.c.created_at >= since)
        ordering: list[Any]
        if order == "confidence":
            ordering = [
                doc.c.min_confidence.is_(None),
                doc.c.min_confidence.asc(),
                doc.c.created_at.asc(),
                doc.c.id.asc(),
            ]
        elif order == "newest":
            ordering = [doc.c.created_at.desc(), doc.c.id.desc()]
        else:
            ordering = [doc.c.created_at.asc(), doc.c.id.asc()]
        with self._read_connection() as conn:
            total = int(conn.scalar(select(func.count()).select_from(doc).where(*conditions)) or 0)
            docs = conn.execute(
                select(
                    doc.c.id,
                    doc.c.external_id,
                    doc.c.filename,
                    doc.c.media_type,
                    doc.c.page_count,
                    doc.c.created_at,
                    doc.c.predicted_doc_type,
                    doc.c.min_confidence,
                )
                .where(*conditions)
                .order_by(*ordering)
                .limit(limit)
                .offset(offset)
            ).all()
            ids = [d.id for d in docs]
            feedback: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            if ids:
                for row in conn.execute(
                    select(
                        fb.c.document_id,
                        fb.c.model_type,
                        fb.c.model_version,
                        fb.c.reviewer,
                        fb.c.reviewed_at,
                        fb.c.committed_at,
                    ).where(fb.c.document_id.in_(ids))
                ):
                    feedback[row.document_id][row.model_type] = {
                        "model_version": row.model_version,
                        "reviewer": row.reviewer,
                        "reviewed_at": _as_utc(row.reviewed_at),
                        "committed_at": _as_utc(row.committed_at),
                    }
        items = []
        for d in docs:
            rows = feedback.get(d.id, {})
            if rows and all(r["committed_at"] is not None for r in rows.values()):
                state = "committed"
            elif not rows:  # every row archived after a retrain: committed long ago
                state = "committed"
            elif all(r["reviewed_at"] is not None for r in rows.values()):
                state = "reviewed"
            else:
                state = "unreviewed"
            items.append(
                {
                    "id": d.id,
                    "external_id": d.external_id,
                    "filename": d.filename,
                    "media_type": d.media_type,
                    "page_count": d.page_count,
                    "created_at": _as_utc(d.created_at),
                    "predicted_doc_type": d.predicted_doc_type,
                    "min_confidence": d.min_confidence,
                    "status": state,
                    "feedback": rows,
                }
            )
        return total, items

    def known_labels(self) -> dict[str, list[str]]:
        """Types and entity labels the store has seen: predicted types, and every field the
        counters hold (labels predicted or used by reviewers in committed documents)."""
        doc = _table(DocumentRow)
        counters = _table(CounterRow)
        with self._read_connection() as conn:
            types = conn.scalars(
                select(doc.c.predicted_doc_type)
                .where(doc.c.predicted_doc_type.is_not(None))
                .distinct()
            ).all()
            labels = conn.scalars(
                select(counters.c.field).where(counters.c.model_type == "extractor").distinct()
            ).all()
        return {"doc_types": sorted(set(types)), "labels": sorted(set(labels))}

    def committed_reviews(
        self, *, since: datetime | None = None, model_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Every committed document with its verified metadata, live and archived feedback
        alike (rows a promoted model trained on move to the archive but stay committed).

        A document is listed when its ``model_type`` row (any row when None) is committed (at or
        after ``since``); each item carries every committed row of the document by model type.
        Ordered by first commit, then id.
        """
        doc = _table(DocumentRow)
        by_doc: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        with self._read_connection() as conn:
            for table in (_table(FeedbackRow), _table(FeedbackArchiveRow)):
                query = select(
                    table.c.document_id,
                    table.c.model_type,
                    table.c.model_version,
                    table.c.verified,
                    table.c.reviewer,
                    table.c.committed_at,
                    table.c.commit_id,
                ).where(table.c.committed_at.is_not(None), table.c.verified.is_not(None))
                for row in conn.execute(query):
                    by_doc[row.document_id][row.model_type] = {
                        "model_version": row.model_version,
                        "verified": row.verified,
                        "reviewer": row.reviewer,
                        "committed_at": _as_utc(row.committed_at),
                        "commit_id": row.commit_id,
                    }
            selected = []
            for doc_id, rows in by_doc.items():
                chosen = [rows[model_type]] if model_type else list(rows.values())
                if model_type and model_type not in rows:
                    continue
                if since is not None and not any(
                    r["committed_at"] is not None and r["committed_at"] >= since for r in chosen
                ):
                    continue
                selected.append(doc_id)
            docs = {}
            for chunk in _chunks(selected, 500):
                for d in conn.execute(select(doc).where(doc.c.id.in_(chunk))):
                    docs[d.id] = d
        items = []
        for doc_id in selected:
            d = docs.get(doc_id)
            if d is None:
                continue
            rows = by_doc[doc_id]
            items.append(
                {
                    "id": d.id,
                    "external_id": d.external_id,
                    "filename": d.filename,
                    "media_type": d.media_type,
                    "content_hash": d.content_hash,
                    "page_count": d.page_count,
                    "blob_uri": d.blob_uri,
                    "created_at": _as_utc(d.created_at),
                    "first_commit": min(r["commit_id"] or 0 for r in rows.values()),
                    "feedback": rows,
                }
            )
        items.sort(key=lambda item: (item["first_commit"], item["id"]))
        return items

    # ---------------------------------------------------------------- review and commit

    def set_review(
        self,
        document_id: str,
        *,
        verified: dict[str, dict[str, Any]],
        reviewer: str | None = None,
    ) -> None:
        """Store the reviewer's verified metadata, per model type (``classifier``/``extractor``).

        Reviews may be revised until the document is committed; afterwards they are final. The
        rows are locked (as ``commit_documents`` locks them), so a review racing a commit either
        lands before it, and is what gets committed, or sees the commit and is refused.
        """
        with self.session() as s:
            if s.get(DocumentRow, document_id) is None:
                raise NotFound(f"document {document_id!r} does not exist")
            rows = {
                r.model_type: r
                for r in s.scalars(
                    select(FeedbackRow)
                    .where(FeedbackRow.document_id == document_id)
                    .order_by(FeedbackRow.id)
                    .with_for_update()
                )
            }
            missing = sorted(set(verified) - set(rows))
            if missing:
                raise Conflict(f"document {document_id!r} has no prediction for {missing}")
            for model_type, value in verified.items():
                row = rows[model_type]
                if row.committed_at is not None:
                    raise Conflict(
                        f"document {document_id!r} was already committed; its review is final"
                    )
                row.verified = value
                row.reviewer = reviewer
                row.reviewed_at = utcnow()

    def commit_documents(
        self, document_ids: Sequence[str], *, committed_by: str | None = None
    ) -> CommitResult:
        """Commit reviewed documents: mark their feedback rows and add to the counters.

        One transaction and a fixed number of statements, whatever the batch size: read the
        batch's feedback rows *locked* (``FOR UPDATE``, in id order, so concurrent commits of
        overlapping batches queue instead of deadlocking; SQLite's ``BEGIN IMMEDIATE`` already
        serializes writers), compute the outcomes in Python, then one commit row, one UPDATE for
        all rows (still conditional on ``committed_at IS NULL``) and one counter upsert. Under
        the lock a row read uncommitted stays so, hence a concurrent double commit counts once
        and a second commit changes nothing (no commit row either) and reports so.
        """
        ids = sorted(dict.fromkeys(document_ids))
        result = CommitResult(commit_id=None)
        if not ids:
            return result
        fb = _table(FeedbackRow)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    fb.c.id,
                    fb.c.document_id,
                    fb.c.model_type,
                    fb.c.model_version,
                    fb.c.predicted,
                    fb.c.verified,
                    fb.c.committed_at,
                )
                .where(fb.c.document_id.in_(ids))
                .order_by(fb.c.id)
                .with_for_update()
            ).all()
            by_doc: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                by_doc[row.document_id].append(row)
            without_rows = [i for i in ids if i not in by_doc]
            known = set(by_doc)
            if without_rows:  # a document always has feedback rows: these are mostly unknown
                doc = _table(DocumentRow)
                known.update(conn.scalars(select(doc.c.id).where(doc.c.id.in_(without_rows))))
            now = utcnow()
            updates: list[dict[str, Any]] = []
            corrected: dict[str, int] = defaultdict(int)
            deltas: dict[tuple[str, str, str], dict[str, int]] = defaultdict(
                lambda: dict.fromkeys(COUNTER_COLUMNS, 0)
            )
            for doc_id in ids:
                if doc_id not in known:
                    result.unknown.append(doc_id)
                    continue
                doc_rows = by_doc.get(doc_id, [])
                all_committed = bool(doc_rows) and all(r.committed_at is not None for r in doc_rows)
                if not doc_rows or any(r.verified is None for r in doc_rows):
                    (result.already_committed if all_committed else result.not_reviewed).append(
                        doc_id
                    )
                    continue
                if all_committed:
                    result.already_committed.append(doc_id)
                    continue
                for row in doc_rows:
                    if row.committed_at is not None:
                        continue
                    outcome = compute_outcome(row.model_type, row.predicted, row.verified)
                    updates.append(
                        {
                            "row_id": row.id,
                            "corrected": outcome.corrected,
                            "field_outcomes": outcome.field_outcomes,
                        }
                    )
                    if row.model_version == NO_MODEL_VERSION:
                        continue  # no model predicted it: nothing to count toward
                    corrected[row.model_type] += int(outcome.corrected)
                    for fld, delta in outcome.counter_deltas.items():
                        acc = deltas[(row.model_type, row.model_version, fld)]
                        for key, value in delta.items():
                            acc[key] += value
                result.committed.append(doc_id)
            if not updates:
                return result
            commit_id = int(
                conn.execute(
                    insert(CommitRow)
                    .values(
                        created_at=now,
                        committed_by=committed_by,
                        requested=len(ids),
                        committed=len(result.committed),
                    )
                    .returning(CommitRow.id)
                ).scalar_one()
            )
            changed = self._mark_committed(conn, updates, now, commit_id)
            if changed != len(updates):  # impossible under the lock; never count a row twice
                raise RuntimeError(
                    f"commit {commit_id}: {changed} of {len(updates)} locked feedback rows "
                    "updated; rolled back"
                )
            self._add_to_counters(conn, deltas, commit_id)
        result.commit_id = commit_id
        result.corrected = dict(corrected)
        return result

    def _mark_committed(
        self, conn: Connection, updates: list[dict[str, Any]], now: datetime, commit_id: int
    ) -> int:
        """Set the commit columns of the given (locked) rows; returns the rows updated.

        PostgreSQL: one ``UPDATE ... FROM unnest(arrays)`` for the whole batch (constant SQL
        text, so it is compiled once and prepared by psycopg). SQLite: an executemany of the
        single-row UPDATE (in-process: no round trips to save).
        """
        if self.dialect == "postgresql":
            res = conn.execute(
                _PG_MARK_COMMITTED,
                {
                    "now": now,
                    "commit_id": commit_id,
                    "ids": [u["row_id"] for u in updates],
                    "corrected": [u["corrected"] for u in updates],
                    "field_outcomes": [json.dumps(u["field_outcomes"]) for u in updates],
                },
            )
            return int(res.rowcount)  # type: ignore[attr-defined]
        fb = _table(FeedbackRow)
        stmt = (
            update(fb)
            .where(fb.c.id == bindparam("row_id"), fb.c.committed_at.is_(None))
            .values(
                committed_at=now,
                commit_id=commit_id,
                corrected=bindparam("b_corrected", type_=Boolean()),
                field_outcomes=bindparam("b_outcomes", type_=fb.c.field_outcomes.type),
            )
        )
        params = [
            {
                "row_id": u["row_id"],
                "b_corrected": u["corrected"],
                "b_outcomes": u["field_outcomes"],
            }
            for u in updates
        ]
        return int(conn.execute(stmt, params).rowcount)

    def _add_to_counters(
        self, conn: Connection, deltas: dict[tuple[str, str, str], dict[str, int]], commit_id: int
    ) -> None:
        """Add the batch's deltas to the counters, rows sorted so that concurrent commits lock
        them in one order. PostgreSQL: one upsert from arrays, so the hot counter rows stay
        locked for one statement, not one per field. SQLite: an executemany of the upsert."""
        if not deltas:
            return
        rows: list[dict[str, Any]] = [
            {
                "model_type": model_type,
                "model_version": version,
                "field": fld,
                **{k: int(delta.get(k, 0)) for k in COUNTER_COLUMNS},
                "last_commit_id": commit_id,
            }
            for (model_type, version, fld), delta in sorted(deltas.items())
        ]
        if self.dialect == "postgresql":
            params: dict[str, Any] = {c: [r[c] for r in rows] for c in _COUNTER_ARRAY_COLUMNS}
            conn.execute(_PG_ADD_TO_COUNTERS, {**params, "commit_id": commit_id})
            return
        table = _table(CounterRow)
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_COUNTER_KEY),
            set_={
                **{k: table.c[k] + stmt.excluded[k] for k in COUNTER_COLUMNS},
                "last_commit_id": func.max(table.c.last_commit_id, stmt.excluded.last_commit_id),
            },
        )
        conn.execute(stmt, rows)

    # ---------------------------------------------------------------- counters

    def live_counters(self, model_type: str, version: str) -> dict[str, dict[str, int]]:
        with self.session() as s:
            rows = s.scalars(
                select(CounterRow).where(
                    CounterRow.model_type == model_type, CounterRow.model_version == version
                )
            )
            return {r.field: {k: int(getattr(r, k)) for k in COUNTER_COLUMNS} for r in rows}

    def recount(self, model_type: str, version: str) -> dict[str, dict[str, int]]:
        """Counters recomputed from the committed feedback rows (live and archived)."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_COLUMNS, 0))
        with self.session() as s:
            for table in (FeedbackRow, FeedbackArchiveRow):
                query = select(table.field_outcomes).where(
                    table.model_type == model_type,
                    table.model_version == version,
                    table.committed_at.is_not(None),
                )
                for (outcomes,) in s.execute(query):
                    for fld, counts in (outcomes or {}).items():
                        acc = totals[fld]
                        acc["committed"] += 1
                        wrong = sum(int(counts.get(k, 0)) for k in ("modified", "added", "removed"))
                        acc["corrected"] += int(wrong > 0)
                        for key in OUTCOME_KEYS:
                            acc[key] += int(counts.get(key, 0))
        return {k: dict(v) for k, v in totals.items()}

    def max_commit_id(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.max(CommitRow.id))) or 0)

    def committed_count(self, model_type: str, version: str, after_commit_id: int = 0) -> int:
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(FeedbackRow)
                    .where(
                        FeedbackRow.model_type == model_type,
                        FeedbackRow.model_version == version,
                        FeedbackRow.commit_id > after_commit_id,
                    )
                )
                or 0
            )

    def counter_commit_total(self, model_type: str, version: str) -> int:
        """Documents committed for a version, read from the counters (cheap for sensors)."""
        counters = self.live_counters(model_type, version)
        if model_type == "classifier":
            return counters.get("doc_type", {}).get("committed", 0)
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(FeedbackRow)
                    .where(
                        FeedbackRow.model_type == model_type,
                        FeedbackRow.model_version == version,
                        # commit_id is set with committed_at and is in the index
                        FeedbackRow.commit_id.is_not(None),
                    )
                )
                or 0
            )

    # ---------------------------------------------------------------- feedback for curation

    def committed_feedback(
        self,
        model_type: str,
        version: str | None = None,
        *,
        include_retrained: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self.session() as s:
            query = select(FeedbackRow).where(
                FeedbackRow.model_type == model_type, FeedbackRow.committed_at.is_not(None)
            )
            if version is not None:
                query = query.where(FeedbackRow.model_version == version)
            if not include_retrained:
                query = query.where(FeedbackRow.retrained.is_(False))
            query = query.order_by(FeedbackRow.id)
            if limit is not None:
                query = query.limit(limit)
            return [feedback_to_dict(r) for r in s.scalars(query)]

    def verified_doc_types(self) -> dict[str, int]:
        """Committed documents per verified type (the classifier rows' reviews, every version,
        archived too): how the sensor sees a second type arrive."""
        counts: dict[str, int] = defaultdict(int)
        with self._read_connection() as conn:
            for table in (_table(FeedbackRow), _table(FeedbackArchiveRow)):
                doc_type = table.c.verified["doc_type"].as_string()
                query = (
                    select(doc_type, func.count())
                    .where(table.c.model_type == "classifier", table.c.committed_at.is_not(None))
                    .group_by(doc_type)
                )
                for value, n in conn.execute(query):
                    if value:
                        counts[str(value)] += int(n)
        return dict(counts)

    def curation_rows(self, model_type: str, version: str) -> list[dict[str, Any]]:
        """Committed, not yet retrained feedback of a version, flattened for curation.

        Each row carries the document's verified type (for the extractor, from the same
        document's classifier review) and its content hash as a fingerprint for near-duplicate
        checks. The database extracts ``doc_type`` from the JSON columns; ``field_outcomes``
        arrives as text and is decoded once per distinct value (29k among the monitor
        benchmark's 500k rows; fewer in production, where labels come sorted), so rows with
        equal outcomes share one dict: treat it as read-only. The same goes for timestamps (one
        per commit). Decoding every row was half of the time a curation spent reading its rows.
        ``committed_at`` is timezone-aware UTC on both backends.
        """
        fb = _table(FeedbackRow)
        doc = _table(DocumentRow)
        classifier = model_type == "classifier"
        source = fb if classifier else fb.alias("cls")
        sqlite_db = self.dialect == "sqlite"
        committed_at_type = fb.c.committed_at.type
        columns: list[Any] = [
            fb.c.id,
            fb.c.document_id,
            fb.c.model_version,
            fb.c.reviewer,
            fb.c.corrected,
            cast(fb.c.field_outcomes, Text),
            # SQLite stores timestamps as text: parse each distinct one once, below.
            type_coerce(fb.c.committed_at, String) if sqlite_db else fb.c.committed_at,
            doc.c.content_hash,
            source.c.verified["doc_type"].as_string(),
        ]
        if classifier:  # the extractor's prediction holds no type, only (many) entities
            columns.append(fb.c.predicted["doc_type"].as_string())
        query = select(*columns).join(doc, doc.c.id == fb.c.document_id)
        if not classifier:
            query = query.outerjoin(
                source,
                and_(
                    source.c.document_id == fb.c.document_id,
                    source.c.model_type == "classifier",
                ),
            )
        query = query.where(
            fb.c.model_type == model_type,
            fb.c.model_version == version,
            fb.c.committed_at.is_not(None),
            fb.c.retrained.is_(False),
        ).order_by(fb.c.id)
        with self._read_connection() as conn:
            rows = conn.execute(query).all()
            impl = committed_at_type.dialect_impl(conn.dialect)
            parse_time = impl.result_processor(conn.dialect, None)
        outcomes = _Memo(lambda text: json.loads(text) if text is not None else {})
        parse = parse_time if sqlite_db and parse_time is not None else None
        times = _Memo(lambda v: _as_utc(parse(v) if parse is not None else v))
        missing_type = None if classifier else "unknown"
        return [
            {
                "feedback_id": int(r[0]),
                "document_id": r[1],
                "model_version": r[2],
                "reviewer": r[3] or "unknown",
                "corrected": bool(r[4]),
                "predicted_doc_type": r[9] if classifier else None,
                "verified_doc_type": r[8] or missing_type,
                "field_outcomes": outcomes[r[5]],
                "retrained": False,
                "committed_at": times[r[6]],
                "fingerprint": r[7],
            }
            for r in rows
        ]

    def mark_retrained(self, feedback_ids: Iterable[int], cycle_id: str) -> int:
        ids = list(feedback_ids)
        with self.session() as s:
            total = 0
            for start in range(0, len(ids), 5000):
                chunk = ids[start : start + 5000]
                res = s.execute(
                    update(FeedbackRow)
                    .where(FeedbackRow.id.in_(chunk))
                    .values(retrained=True, retrain_cycle=cycle_id)
                    .execution_options(synchronize_session=False)
                )
                total += int(res.rowcount)  # type: ignore[attr-defined]
            return total

    def release_cycle(self, cycle_id: str) -> int:
        """The alternate path: rows a rejected candidate used become available again."""
        with self.session() as s:
            res = s.execute(
                update(FeedbackRow)
                .where(FeedbackRow.retrain_cycle == cycle_id)
                .values(retrained=False, retrain_cycle=None)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount)  # type: ignore[attr-defined]

    def archive_cycle(self, cycle_id: str, promoted_version: str) -> int:
        """Move the rows a promoted model trained on to ``feedback_archive`` (one transaction)."""
        columns = [c.name for c in FeedbackRow.__table__.columns]
        with self.session() as s:
            source = select(*[FeedbackRow.__table__.c[c] for c in columns]).where(
                FeedbackRow.retrain_cycle == cycle_id, FeedbackRow.retrained.is_(True)
            )
            s.execute(insert(FeedbackArchiveRow).from_select(columns, source))
            res = s.execute(
                delete(FeedbackRow)
                .where(FeedbackRow.retrain_cycle == cycle_id, FeedbackRow.retrained.is_(True))
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(FeedbackArchiveRow)
                .where(
                    FeedbackArchiveRow.retrain_cycle == cycle_id,
                    FeedbackArchiveRow.archived_by_version.is_(None),
                )
                .values(archived_by_version=promoted_version)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount)  # type: ignore[attr-defined]

    def archived_and_live_overlap(self) -> int:
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(FeedbackRow)
                    .join(FeedbackArchiveRow, FeedbackArchiveRow.id == FeedbackRow.id)
                )
                or 0
            )

    def count_feedback(self, *, archived: bool = False) -> int:
        table = FeedbackArchiveRow if archived else FeedbackRow
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)

    # ---------------------------------------------------------------- model table

    def register_version(
        self,
        *,
        model_type: str,
        version: str,
        registry_name: str,
        mlflow_run_id: str | None = None,
        parent_version: str | None = None,
        baseline_metrics: dict[str, Any] | None = None,
    ) -> ModelInfo:
        with self.session() as s:
            row = s.scalar(
                select(ModelRow).where(
                    ModelRow.model_type == model_type, ModelRow.version == version
                )
            )
            if row is None:
                row = ModelRow(
                    model_type=model_type,
                    version=version,
                    registry_name=registry_name,
                    mlflow_run_id=mlflow_run_id,
                    parent_version=parent_version,
                    baseline_metrics=baseline_metrics or {},
                    thresholds={},
                )
                s.add(row)
            else:
                row.mlflow_run_id = mlflow_run_id or row.mlflow_run_id
                if baseline_metrics:
                    row.baseline_metrics = baseline_metrics
            s.flush()
            return ModelInfo.from_row(row)

    def set_default(
        self,
        model_type: str,
        version: str,
        *,
        thresholds: dict[str, float],
        baseline_metrics: dict[str, Any] | None = None,
        state: RetrainState = RetrainState.COMPLETED,
        reason: str | None = None,
    ) -> ModelInfo:
        """Make ``version`` the default in one transaction; the old default keeps its history."""
        with self.session() as s:
            target = s.scalar(
                select(ModelRow)
                .where(ModelRow.model_type == model_type, ModelRow.version == version)
                .with_for_update()
            )
            if target is None:
                raise NotFound(f"{model_type} version {version} is not in the model table")
            s.execute(
                update(ModelRow)
                .where(ModelRow.model_type == model_type, ModelRow.version != version)
                .values(is_default=False)
                .execution_options(synchronize_session=False)
            )
            now = utcnow()
            target.is_default = True
            target.thresholds = dict(thresholds)
            if baseline_metrics is not None:
                target.baseline_metrics = baseline_metrics
            target.retrain_state = state.value
            target.state_reason = reason
            target.state_changed_at = now
            target.promoted_at = now
            target.commits_at_deploy = int(s.scalar(select(func.max(CommitRow.id))) or 0)
            s.flush()
            return ModelInfo.from_row(target)

    def get_default(self, model_type: str) -> ModelInfo | None:
        with self.session() as s:
            row = s.scalar(
                select(ModelRow).where(ModelRow.model_type == model_type, ModelRow.is_default)
            )
            return ModelInfo.from_row(row) if row is not None else None

    def get_version(self, model_type: str, version: str) -> ModelInfo | None:
        with self.session() as s:
            row = s.scalar(
                select(ModelRow).where(
                    ModelRow.model_type == model_type, ModelRow.version == version
                )
            )
            return ModelInfo.from_row(row) if row is not None else None

    def list_versions(self, model_type: str) -> list[ModelInfo]:
        with self.session() as s:
            rows = s.scalars(
                select(ModelRow).where(ModelRow.model_type == model_type).order_by(ModelRow.id)
            )
            return [ModelInfo.from_row(r) for r in rows]

    def set_retrain_state(
        self,
        model_type: str,
        state: RetrainState,
        *,
        reason: str | None = None,
        expected: Iterable[RetrainState] | None = None,
    ) -> bool:
        """Compare-and-set the default's retrain state; False when the current state differs."""
        with self.session() as s:
            query = update(ModelRow).where(
                ModelRow.model_type == model_type, ModelRow.is_default.is_(True)
            )
            if expected is not None:
                query = query.where(ModelRow.retrain_state.in_([e.value for e in expected]))
            res = s.execute(
                query.values(
                    retrain_state=state.value, state_reason=reason, state_changed_at=utcnow()
                ).execution_options(synchronize_session=False)
            )
            return int(res.rowcount) == 1  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- retrain cycles

    def open_cycle(
        self, model_type: str, parent_version: str, trigger: dict[str, Any]
    ) -> CycleInfo:
        """Start cycle ``<type>-v<parent>-<n>`` attempt 1, or the next attempt of an open one."""
        with self.session() as s:
            latest = s.scalar(
                select(RetrainCycleRow)
                .where(
                    RetrainCycleRow.model_type == model_type,
                    RetrainCycleRow.parent_version == parent_version,
                )
                .order_by(RetrainCycleRow.id.desc())
                .limit(1)
            )
            if latest is not None and latest.state != RetrainState.COMPLETED.value:
                cycle_id, attempt = latest.cycle_id, latest.attempt + 1
            else:
                n = int(
                    s.scalar(
                        select(func.count(func.distinct(RetrainCycleRow.cycle_id))).where(
                            RetrainCycleRow.model_type == model_type
                        )
                    )
                    or 0
                )
                cycle_id, attempt = f"{model_type}-v{parent_version}-c{n + 1}", 1
            row = RetrainCycleRow(
                cycle_id=cycle_id,
                attempt=attempt,
                model_type=model_type,
                parent_version=parent_version,
                state=RetrainState.INPROGRESS.value,
                trigger=trigger,
            )
            s.add(row)
            s.flush()
            return _cycle_info(row)

    def current_cycle(self, model_type: str) -> CycleInfo | None:
        with self.session() as s:
            row = s.scalar(
                select(RetrainCycleRow)
                .where(RetrainCycleRow.model_type == model_type)
                .order_by(RetrainCycleRow.id.desc())
                .limit(1)
            )
            return _cycle_info(row) if row is not None else None

    def update_cycle(
        self,
        cycle_id: str,
        attempt: int,
        *,
        state: RetrainState | None = None,
        candidate_version: str | None = None,
        decision: dict[str, Any] | None = None,
        dagster_run_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = state.value
            if state in (RetrainState.COMPLETED, RetrainState.FAILED):
                values["finished_at"] = utcnow()
        if candidate_version is not None:
            values["candidate_version"] = candidate_version
        if decision is not None:
            values["decision"] = decision
        if dagster_run_id is not None:
            values["dagster_run_id"] = dagster_run_id
        if not values:
            return
        with self.session() as s:
            s.execute(
                update(RetrainCycleRow)
                .where(RetrainCycleRow.cycle_id == cycle_id, RetrainCycleRow.attempt == attempt)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

"""Reviews and commits: the path that matters most, since a committed correction is the
product's most valuable data.

``commit_documents`` locks the batch's feedback rows, marks them committed with one conditional
UPDATE (``WHERE committed_at IS NULL``) and adds to the counters in the same transaction, so a
concurrent double commit counts once and a failure leaves nothing half-written. It runs a fixed
handful of Core statements per batch (no ORM objects): at 20 concurrent clients the
per-statement round trips and compilation were the cost.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import sqlite

from selfimprove_assets.lib.store.base import (
    COUNTER_COLUMNS,
    NO_MODEL_VERSION,
    Conflict,
    NotFound,
    StorePart,
    core_table,
)
from selfimprove_assets.lib.store.outcomes import compute_outcome
from selfimprove_assets.lib.store.tables import (
    CommitRow,
    CounterRow,
    DocumentRow,
    FeedbackRow,
    utcnow,
)

_COUNTER_KEY = ("model_type", "model_version", "field")
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


class CommitStore(StorePart):
    """Reviews (revisable until committed) and the commit of reviewed documents."""

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
        with self._db.session() as s:
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
        fb = core_table(FeedbackRow)
        with self._db.engine.begin() as conn:
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
                doc = core_table(DocumentRow)
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
        if self._db.dialect == "postgresql":
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
        fb = core_table(FeedbackRow)
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
        if self._db.dialect == "postgresql":
            params: dict[str, Any] = {c: [r[c] for r in rows] for c in _COUNTER_ARRAY_COLUMNS}
            conn.execute(_PG_ADD_TO_COUNTERS, {**params, "commit_id": commit_id})
            return
        table = core_table(CounterRow)
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_COUNTER_KEY),
            set_={
                **{k: table.c[k] + stmt.excluded[k] for k in COUNTER_COLUMNS},
                "last_commit_id": func.max(table.c.last_commit_id, stmt.excluded.last_commit_id),
            },
        )
        conn.execute(stmt, rows)

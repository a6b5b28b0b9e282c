"""The counters a commit adds to, the recount they must always equal, and the counts the
sensors read."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, func, select

from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.store.base import COUNTER_COLUMNS, StorePart
from selfimprove_assets.lib.store.outcomes import OUTCOME_KEYS
from selfimprove_assets.lib.store.tables import (
    CommitRow,
    CounterRow,
    FeedbackArchiveRow,
    FeedbackRow,
)


class CounterStore(StorePart):
    """Per-field counters of each model version, and counts over the feedback tables."""

    def live_counters(self, model_type: str, version: str) -> dict[str, dict[str, int]]:
        with self._db.session() as s:
            rows = s.scalars(
                select(CounterRow).where(
                    CounterRow.model_type == model_type, CounterRow.model_version == version
                )
            )
            return {r.field: {k: int(getattr(r, k)) for k in COUNTER_COLUMNS} for r in rows}

    def recount(self, model_type: str, version: str) -> dict[str, dict[str, int]]:
        """Counters recomputed from the committed feedback rows (live and archived)."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_COLUMNS, 0))
        with self._db.session() as s:
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
        with self._db.session() as s:
            return int(s.scalar(select(func.max(CommitRow.id))) or 0)

    def _count_feedback(self, model_type: str, version: str, committed: ColumnElement[bool]) -> int:
        """A version's feedback rows that ``committed`` (a condition on the commit) selects."""
        with self._db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(FeedbackRow)
                    .where(
                        FeedbackRow.model_type == model_type,
                        FeedbackRow.model_version == version,
                        committed,
                    )
                )
                or 0
            )

    def committed_count(self, model_type: str, version: str, after_commit_id: int = 0) -> int:
        return self._count_feedback(model_type, version, FeedbackRow.commit_id > after_commit_id)

    def counter_commit_total(self, model_type: str, version: str) -> int:
        """Documents committed for a version, read from the counters (cheap for sensors)."""
        counters = self.live_counters(model_type, version)
        field = kind_of(model_type).document_field
        if field is not None:  # one field per document: its counter counts the documents
            return counters.get(field, {}).get("committed", 0)
        # commit_id is set with committed_at and is in the index
        return self._count_feedback(model_type, version, FeedbackRow.commit_id.is_not(None))

    def archived_and_live_overlap(self) -> int:
        with self._db.session() as s:
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
        with self._db.session() as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)

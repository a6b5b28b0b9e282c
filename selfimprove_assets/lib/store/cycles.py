"""Retrain state and cycles: the default's compare-and-set state, the cycle attempts, and the
feedback rows a cycle claims (marked retrained, released after a rejection, archived after a
promotion)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from selfimprove_assets.lib.store.base import StorePart, dataclass_from_row
from selfimprove_assets.lib.store.tables import (
    FeedbackArchiveRow,
    FeedbackRow,
    ModelRow,
    RetrainCycleRow,
    utcnow,
)
from selfimprove_assets.lib.types import RetrainState


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
    return dataclass_from_row(CycleInfo, row, trigger=dict(row.trigger or {}))


class CycleStore(StorePart):
    """The default's retrain state, the cycles, and the rows each cycle claims."""

    def set_retrain_state(
        self,
        model_type: str,
        state: RetrainState,
        *,
        reason: str | None = None,
        expected: Iterable[RetrainState] | None = None,
    ) -> bool:
        """Compare-and-set the default's retrain state; False when the current state differs."""
        with self._db.session() as s:
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

    def open_cycle(
        self, model_type: str, parent_version: str, trigger: dict[str, Any]
    ) -> CycleInfo:
        """Start cycle ``<type>-v<parent>-<n>`` attempt 1, or the next attempt of an open one."""
        with self._db.session() as s:
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
        with self._db.session() as s:
            row = s.scalar(
                select(RetrainCycleRow)
                .where(RetrainCycleRow.model_type == model_type)
                .order_by(RetrainCycleRow.id.desc())
                .limit(1)
            )
            return _cycle_info(row) if row is not None else None

    def cycle_attempts(self, cycle_id: str) -> list[CycleInfo]:
        """Every attempt of a cycle, first to last."""
        with self._db.session() as s:
            rows = s.scalars(
                select(RetrainCycleRow)
                .where(RetrainCycleRow.cycle_id == cycle_id)
                .order_by(RetrainCycleRow.attempt)
            )
            return [_cycle_info(r) for r in rows]

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
        with self._db.session() as s:
            s.execute(
                update(RetrainCycleRow)
                .where(RetrainCycleRow.cycle_id == cycle_id, RetrainCycleRow.attempt == attempt)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def mark_retrained(self, feedback_ids: Iterable[int], cycle_id: str) -> int:
        ids = list(feedback_ids)
        with self._db.session() as s:
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
        with self._db.session() as s:
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
        with self._db.session() as s:
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

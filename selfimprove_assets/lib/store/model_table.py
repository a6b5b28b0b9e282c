"""The model table: every registered version of a model type, and which one is the default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from selfimprove_assets.lib.store.base import NotFound, StorePart, dataclass_from_row
from selfimprove_assets.lib.store.tables import CommitRow, ModelRow, utcnow
from selfimprove_assets.lib.types import RetrainState


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
        return dataclass_from_row(
            cls,
            row,
            thresholds=dict(row.thresholds or {}),
            baseline_metrics=dict(row.baseline_metrics or {}),
            commits_at_deploy=int(row.commits_at_deploy or 0),
        )


class ModelTable(StorePart):
    """Versions of each model type, and the default (with its thresholds) in one transaction."""

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
        with self._db.session() as s:
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
        with self._db.session() as s:
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
        with self._db.session() as s:
            row = s.scalar(
                select(ModelRow).where(ModelRow.model_type == model_type, ModelRow.is_default)
            )
            return ModelInfo.from_row(row) if row is not None else None

    def get_version(self, model_type: str, version: str) -> ModelInfo | None:
        with self._db.session() as s:
            row = s.scalar(
                select(ModelRow).where(
                    ModelRow.model_type == model_type, ModelRow.version == version
                )
            )
            return ModelInfo.from_row(row) if row is not None else None

    def list_versions(self, model_type: str) -> list[ModelInfo]:
        with self._db.session() as s:
            rows = s.scalars(
                select(ModelRow).where(ModelRow.model_type == model_type).order_by(ModelRow.id)
            )
            return [ModelInfo.from_row(r) for r in rows]

"""Score a registered version and make it the default, in the registry and the model table.

The registry (MLflow alias ``champion``) is the source of truth for the default version; the
model table mirrors it and adds thresholds and the retrain state. ``deploy_version`` moves the
alias first, then writes the table the API serves from: an unreachable registry changes nothing
clients see, and if the table write fails ``registry_agrees`` reports the disagreement and
running ``deploy_version`` again repairs it (every step is idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from selfimprove_assets.lib.models.names import REGISTERED_NAMES
from selfimprove_assets.lib.promotion.policy import DEFAULT_THRESHOLD_FLOOR, rebase_thresholds
from selfimprove_assets.lib.store.repository import FeedbackStore, ModelInfo
from selfimprove_assets.lib.types import RetrainState

CHAMPION = "champion"
CHALLENGER = "challenger"


def registry_name(model_type: str) -> str:
    return REGISTERED_NAMES[model_type]


def tag_version(
    client: MlflowClient, model_type: str, version: str, tags: Mapping[str, str]
) -> None:
    """Set ``tags`` on a registered version of ``model_type``."""
    for key, value in tags.items():
        client.set_model_version_tag(registry_name(model_type), version, key, value)


def deploy_version(
    store: FeedbackStore,
    client: MlflowClient,
    *,
    model_type: str,
    version: str,
    field_accuracy: dict[str, float],
    metrics: dict[str, object],
    margin: float,
    mlflow_run_id: str | None,
    parent_version: str | None,
    state: RetrainState,
    reason: str | None = None,
    floor: float = DEFAULT_THRESHOLD_FLOOR,
) -> ModelInfo:
    """Register ``version`` in the model table, make it the default and move ``champion``."""
    thresholds = rebase_thresholds(field_accuracy, margin=margin, floor=floor)
    store.models.register_version(
        model_type=model_type,
        version=version,
        registry_name=registry_name(model_type),
        mlflow_run_id=mlflow_run_id,
        parent_version=parent_version,
        baseline_metrics=dict(metrics),
    )
    return set_champion(
        store,
        client,
        model_type=model_type,
        version=version,
        thresholds=thresholds,
        baseline_metrics=dict(metrics),
        state=state,
        reason=reason,
    )


def set_champion(
    store: FeedbackStore,
    client: MlflowClient,
    *,
    model_type: str,
    version: str,
    thresholds: dict[str, float],
    baseline_metrics: dict[str, object] | None,
    state: RetrainState,
    reason: str | None,
) -> ModelInfo:
    """The one champion order (promotion, rollback, baselines): the registry's ``champion``
    alias first, then the model table. If the registry is unreachable nothing changes that the
    API serves from the table; if the table write fails, ``registry_agrees`` reports it and
    the same call again repairs it."""
    client.set_registered_model_alias(registry_name(model_type), CHAMPION, version)
    return store.models.set_default(
        model_type,
        version,
        thresholds=thresholds,
        baseline_metrics=baseline_metrics,
        state=state,
        reason=reason,
    )


def champion_version(client: MlflowClient, model_type: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(registry_name(model_type), CHAMPION).version)
    except MlflowException:
        return None


def registry_agrees(
    store: FeedbackStore, client: MlflowClient, model_type: str
) -> tuple[bool, str]:
    """Whether the model table's default and the registry's ``champion`` name one version."""
    default = store.models.get_default(model_type)
    alias = champion_version(client, model_type)
    table = default.version if default else None
    if table == alias:
        return True, f"model table and registry agree on {model_type} version {table}"
    return False, f"model table default is {table}, registry champion is {alias}"

"""Model actions reserved to admins: roll the default back to its parent version.

Same order as ``lib.deployment.deploy_version``: the model table first, then the registry's
``champion`` alias; if the alias move fails the table is restored, so the two never disagree
because of this endpoint.
"""

from __future__ import annotations

import logging

from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.schemas import ResetOut, RollbackOut
from selfimprove_assets.lib.monitor.reset import NoDefaultModel, reset_retrain_state
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState

logger = logging.getLogger(__name__)
CHAMPION = "champion"


def _move_alias(settings: Settings, registry_name: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=settings.mlflow_tracking_uri).set_registered_model_alias(
        registry_name, CHAMPION, version
    )


def rollback(store: FeedbackStore, settings: Settings, model_type: str, who: str) -> RollbackOut:
    current = store.get_default(model_type)
    if current is None:
        raise ApiError(404, f"there is no default {model_type} model to roll back")
    if not current.parent_version:
        raise ApiError(
            409, f"{model_type} version {current.version} has no parent version to roll back to"
        )
    parent = store.get_version(model_type, current.parent_version)
    if parent is None:
        raise ApiError(
            409, f"{model_type} parent version {current.parent_version} is not in the model table"
        )
    store.set_default(
        model_type,
        parent.version,
        thresholds=parent.thresholds or current.thresholds,
        state=RetrainState.COMPLETED,
        reason=f"rolled back from version {current.version} by {who}",
    )
    try:
        _move_alias(settings, parent.registry_name, parent.version)
    except Exception:
        logger.exception("could not move the %s alias; restoring the model table", CHAMPION)
        store.set_default(
            model_type,
            current.version,
            thresholds=current.thresholds,
            state=RetrainState(current.retrain_state),
            reason=current.state_reason,
        )
        raise ApiError(
            503, "the model registry could not be updated; nothing was rolled back"
        ) from None
    logger.info(
        "%s rolled back from %s to %s by %s", model_type, current.version, parent.version, who
    )
    return RollbackOut(
        model_type=model_type, previous_version=current.version, default_version=parent.version
    )


def reset_state(store: FeedbackStore, model_type: str, who: str, reason: str = "") -> ResetOut:
    """Recover a stuck retrain state (TRIGGERED/INPROGRESS/FAILED -> IDLE, rows released)."""
    try:
        result = reset_retrain_state(store, model_type, who, reason)
    except NoDefaultModel as exc:
        raise ApiError(404, str(exc)) from None
    return ResetOut(**result.to_dict())

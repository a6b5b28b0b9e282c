"""Model actions reserved to admins: roll the default back to its parent version, and recover a
stuck retrain state. Both are ``lib.loop`` functions (``promote.rollback``, ``cycle.reset``),
the same the CLI calls; the rollback moves the champion in the one order of every promotion
(the registry's ``champion`` alias, then the model table).
"""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.schemas import ResetOut, RollbackOut
from selfimprove_assets.lib.loop import cycle, promote
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore


def rollback(store: FeedbackStore, settings: Settings, model_type: str, who: str) -> RollbackOut:
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        result = promote.rollback(store, client, model_type, who)
    except cycle.NoDefaultModel as exc:
        raise ApiError(404, str(exc)) from None
    except promote.NothingToRollBack as exc:
        raise ApiError(409, str(exc)) from None
    except MlflowException:
        raise ApiError(
            503, "the model registry could not be updated; nothing was rolled back"
        ) from None
    return RollbackOut(
        model_type=model_type,
        previous_version=result.previous_version,
        default_version=result.default_version,
    )


def reset_state(store: FeedbackStore, model_type: str, who: str, reason: str = "") -> ResetOut:
    """Recover a stuck retrain state (TRIGGERED/INPROGRESS/FAILED -> IDLE, rows released)."""
    try:
        result = cycle.reset(store, model_type, who, reason)
    except cycle.NoDefaultModel as exc:
        raise ApiError(404, str(exc)) from None
    return ResetOut(**result.to_dict())

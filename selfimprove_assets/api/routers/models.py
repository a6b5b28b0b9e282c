"""Models: their status, and the admin's rollback and reset."""

from __future__ import annotations

from fastapi import APIRouter

from selfimprove_assets.api import views
from selfimprove_assets.api.admin import reset_state, rollback
from selfimprove_assets.api.auth import Principal
from selfimprove_assets.api.routing import ADMIN, REVIEWER, route
from selfimprove_assets.api.schemas import ModelsOut, ResetIn, ResetOut, RollbackOut
from selfimprove_assets.api.serving import PredictorProvider
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES


def add_models_routes(
    router: APIRouter, store: FeedbackStore, provider: PredictorProvider, settings: Settings
) -> None:
    """The model routes on ``router``: status for a reviewer, rollback and reset for an admin."""

    @router.get("/v1/models", **route(ModelsOut, "models"))
    def list_models(principal: Principal = REVIEWER) -> ModelsOut:
        """Per model type: default version, retrain state, thresholds and live accuracy."""
        served = provider.snapshot.versions
        return ModelsOut(
            models={t: views.model_status(store, t, served.get(t)) for t in MODEL_TYPES}
        )

    @router.post(
        "/v1/models/{model_type}/rollback", **route(RollbackOut, "models", 404, 409, 422, 503)
    )
    def rollback_model(model_type: str, principal: Principal = ADMIN) -> RollbackOut:
        """Make the current default's parent version the default again (admin only)."""
        out = rollback(store, settings, views.require_model_type(model_type), principal.name)
        provider.refresh()
        return out

    @router.post("/v1/models/{model_type}/reset", **route(ResetOut, "models", 404, 422))
    def reset_model_state(
        model_type: str, body: ResetIn | None = None, principal: Principal = ADMIN
    ) -> ResetOut:
        """Recover a stuck retrain state (admin only): TRIGGERED, INPROGRESS or FAILED becomes
        IDLE, the current cycle's claimed feedback rows are released and the cycle is marked
        FAILED; an audit line names who did it. Calling it again changes nothing."""
        reason = body.reason if body is not None else ""
        return reset_state(store, views.require_model_type(model_type), principal.name, reason)

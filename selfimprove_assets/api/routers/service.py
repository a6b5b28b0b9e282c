"""Liveness: the one route without a token."""

from __future__ import annotations

from fastapi import APIRouter

from selfimprove_assets.api.schemas import HealthOut
from selfimprove_assets.api.serving import PredictorProvider


def add_service_routes(router: APIRouter, provider: PredictorProvider) -> None:
    """``GET /health`` on ``router``."""

    @router.get("/health", response_model=HealthOut, tags=["service"])
    def health() -> HealthOut:
        """Liveness, and which model versions are being served (no credentials needed)."""
        return HealthOut(status="ok", models=provider.snapshot.versions)

"""Committed documents out, for an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from selfimprove_assets.api import views
from selfimprove_assets.api.auth import Principal
from selfimprove_assets.api.routing import ADMIN, ModelTypeQuery, OffsetQuery, route
from selfimprove_assets.api.schemas import ExportOut
from selfimprove_assets.lib.interchange.export import exported_documents
from selfimprove_assets.lib.store.repository import FeedbackStore


def add_export_routes(router: APIRouter, store: FeedbackStore) -> None:
    """The export route on ``router`` (admin)."""

    @router.get("/v1/export", **route(ExportOut, "admin", 422))
    def export_documents(
        since: Annotated[
            datetime | None, Query(description="committed at or after (ISO 8601; UTC if no zone)")
        ] = None,
        model_type: ModelTypeQuery = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: OffsetQuery = 0,
        principal: Principal = ADMIN,
    ) -> ExportOut:
        """Committed documents with their verified type and entities (admin): for audits,
        training elsewhere, or ``selfimprove ingest`` after ``selfimprove export``."""
        records = exported_documents(store, since=views.as_utc(since), model_type=model_type)
        return views.export_out(records, offset, limit)

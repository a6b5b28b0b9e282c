"""The serving and feedback-capture API: upload, predict, review, commit, model status.

``create_app`` builds a FastAPI app over a ``FeedbackStore`` and a ``PredictorProvider``;
both can be injected (tests, the benchmark) or are built from ``Settings``. Blocking work
(extraction, OCR, inference, database calls) never runs on the event loop: the upload route
hands it to the threadpool and every other route is a plain ``def`` that FastAPI runs there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles

from selfimprove_assets.api.auth import (
    TokenTable,
    install_log_redaction,
)
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.api.errors import install_error_handlers
from selfimprove_assets.api.limits import BodySizeLimit
from selfimprove_assets.api.routers.documents import add_documents_routes
from selfimprove_assets.api.routers.export import add_export_routes
from selfimprove_assets.api.routers.models import add_models_routes
from selfimprove_assets.api.routers.pages import add_pages_routes
from selfimprove_assets.api.routers.review import STATIC_DIR, add_review_routes
from selfimprove_assets.api.routers.service import add_service_routes
from selfimprove_assets.api.serving import PredictorProvider
from selfimprove_assets.api.storage import BlobStore
from selfimprove_assets.api.uploads import UploadService
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    store: FeedbackStore | None = None,
    predictor_provider: PredictorProvider | None = None,
    config: ApiConfig | None = None,
) -> FastAPI:
    """Build the API. Missing collaborators are created from ``settings`` (or the env)."""
    settings = settings or load_settings()
    config = config or ApiConfig()
    settings.blobs_dir.mkdir(parents=True, exist_ok=True)
    settings.pages_dir.mkdir(parents=True, exist_ok=True)
    store = store or FeedbackStore(settings.database_url)
    if predictor_provider is None:
        from selfimprove_assets.api.loading import registry_loader

        predictor_provider = PredictorProvider(
            store, registry_loader(settings), refresh_seconds=config.model_refresh_seconds
        )
    provider = predictor_provider
    tokens = TokenTable.parse(settings.api_tokens)
    if not len(tokens):
        logger.warning("no API tokens configured (SELFIMPROVE_API_TOKENS): only /health answers")
    blobs = BlobStore(settings.blobs_dir)
    renders_dir = settings.pages_dir / "images"
    uploads = UploadService(store, provider, blobs, PageStore(settings.pages_dir), config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # uvicorn configures its loggers before startup: attach the filter now.
        install_log_redaction()
        # Load the default models before the first upload needs them (seconds, not per request).
        try:
            await run_in_threadpool(provider.refresh)
        except Exception:  # serving still starts; uploads will say what is wrong
            logger.exception("could not load the default models at startup")
        yield

    install_log_redaction()
    app = FastAPI(
        lifespan=lifespan,
        title="selfimprove",
        version="1",
        summary="Serve document-AI predictions and capture reviewer corrections.",
    )
    app.state.tokens = tokens
    app.state.store = store
    app.state.provider = provider
    app.state.config = config
    app.state.settings = settings
    install_error_handlers(app)
    # Multipart overhead is small; anything far above the file limit is refused unread.
    app.add_middleware(BodySizeLimit, max_bytes=config.max_upload_bytes + 1024 * 1024)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # the routes by subject, in this order (the OpenAPI schema lists them so)
    add_service_routes(app.router, provider)
    add_documents_routes(app.router, store, provider, uploads, config)
    add_models_routes(app.router, store, provider, settings)
    add_pages_routes(app.router, store, uploads, blobs, renders_dir)
    add_export_routes(app.router, store)
    add_review_routes(app.router)
    return app

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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from selfimprove_assets.api import views
from selfimprove_assets.api.admin import reset_state, rollback
from selfimprove_assets.api.auth import (
    Principal,
    Role,
    TokenTable,
    install_log_redaction,
    require,
)
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.api.errors import ApiError, install_error_handlers
from selfimprove_assets.api.limits import BodySizeLimit
from selfimprove_assets.api.render import cached_page_png
from selfimprove_assets.api.schemas import (
    NO_CONTROL_CHARS,
    WORDS_PART,
    CommitIn,
    CommitOut,
    DocumentOut,
    ErrorOut,
    ExportOut,
    HealthOut,
    LabelsOut,
    ModelsOut,
    PageWordsOut,
    QueueOut,
    ResetIn,
    ResetOut,
    ReviewIn,
    RollbackOut,
    UploadOut,
    WordOut,
)
from selfimprove_assets.api.serving import PredictorProvider
from selfimprove_assets.api.storage import BlobStore
from selfimprove_assets.api.uploads import UploadService
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.interchange.export import exported_documents
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DocumentIdParam = Annotated[str, PathParam(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]
PageParam = Annotated[int, PathParam(ge=0, le=100_000)]
ModelTypeQuery = Annotated[Literal["classifier", "extractor"] | None, Query()]
OffsetQuery = Annotated[int, Query(ge=0, le=10_000_000)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def _route(response_model: type, tag: str, *codes: int) -> dict[str, Any]:
    """The OpenAPI description of a route behind a token: what it answers, its tag, and its
    error answers (401 and 403 for a missing or weak token, besides ``codes``)."""
    return {
        "response_model": response_model,
        "tags": [tag],
        "responses": _errors(*sorted({401, 403, *codes})),
    }


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

    reviewer = Depends(require(Role.REVIEWER))
    admin = Depends(require(Role.ADMIN))

    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health() -> HealthOut:
        """Liveness, and which model versions are being served (no credentials needed)."""
        return HealthOut(status="ok", models=provider.snapshot.versions)

    @app.post(
        "/v1/documents",
        status_code=201,
        **_route(UploadOut, "documents", 400, 409, 413, 415, 422, 503),
    )
    async def upload_document(
        file: Annotated[UploadFile, File(description="a PDF, PNG, JPEG or (multi-page) TIFF file")],
        external_id: Annotated[str | None, Form(max_length=200, pattern=NO_CONTROL_CHARS)] = None,
        words: Annotated[str | None, Form(description=WORDS_PART)] = None,
        principal: Principal = reviewer,
    ) -> UploadOut:
        """Store a document, predict its type and entities with the default models (on the
        ``words`` part's words when it is sent: no OCR for the pages it gives)."""
        data = await file.read(config.max_upload_bytes + 1)
        await file.close()
        uploads.check_bytes(data)
        return await run_in_threadpool(
            uploads.process, data, filename=file.filename, external_id=external_id, words=words
        )

    @app.get("/v1/documents/{document_id}", **_route(DocumentOut, "documents", 404, 422))
    def get_document(document_id: DocumentIdParam, principal: Principal = reviewer) -> DocumentOut:
        """The prediction and the current review state of a document."""
        return views.document_view(store, document_id)

    @app.get("/v1/documents", **_route(QueueOut, "documents", 422))
    def list_documents(
        status: Annotated[
            Literal["unreviewed", "reviewed", "committed"] | None,
            Query(
                description="unreviewed: not every prediction reviewed; reviewed: reviewed, "
                "not committed; committed: final"
            ),
        ] = None,
        doc_type: Annotated[
            str | None,
            Query(max_length=100, pattern=NO_CONTROL_CHARS, description="the predicted type"),
        ] = None,
        model_version: Annotated[str | None, Query(max_length=32, pattern=NO_CONTROL_CHARS)] = None,
        model_type: ModelTypeQuery = None,
        since: Annotated[
            datetime | None, Query(description="uploaded at or after (ISO 8601; UTC if no zone)")
        ] = None,
        order: Annotated[
            Literal["created", "newest", "confidence"],
            Query(description="created: oldest first; confidence: least certain first"),
        ] = "created",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: OffsetQuery = 0,
        principal: Principal = reviewer,
    ) -> QueueOut:
        """The review queue: documents filtered by review state, type, version and age, paged."""
        total, items = store.documents.list_documents(
            status=status,
            doc_type=doc_type,
            model_version=model_version,
            model_type=model_type,
            since=views.as_utc(since),
            order=order,
            limit=limit,
            offset=offset,
        )
        return views.queue_out(total, items, offset, limit)

    @app.get("/v1/labels", **_route(LabelsOut, "documents"))
    def list_labels(principal: Principal = reviewer) -> LabelsOut:
        """The document types and entity labels a reviewer picks from (models and reviews)."""
        return views.labels_out(store, provider.snapshot)

    @app.put(
        "/v1/documents/{document_id}/review", **_route(DocumentOut, "documents", 400, 404, 409, 422)
    )
    def review_document(
        document_id: DocumentIdParam, review: ReviewIn, principal: Principal = reviewer
    ) -> DocumentOut:
        """Record the verified type and entities; allowed until the document is committed."""
        document = store.documents.get_document(document_id)
        for index, entity in enumerate(review.entities):
            if entity.page >= document["page_count"]:
                raise ApiError(
                    422,
                    f"entities[{index}].page is {entity.page} but the document has "
                    f"{document['page_count']} page(s) (pages count from 0)",
                )
        store.commits.set_review(
            document_id, verified=views.verified_dicts(review), reviewer=principal.name
        )
        return views.document_view(store, document_id)

    @app.post("/v1/commits", **_route(CommitOut, "documents", 400, 422))
    def commit_documents(body: CommitIn, principal: Principal = reviewer) -> CommitOut:
        """Compare predictions with reviews and count corrections; committing twice is a no-op."""
        return views.commit_out(views.commit(store, body.document_ids, principal.name))

    @app.get("/v1/models", **_route(ModelsOut, "models"))
    def list_models(principal: Principal = reviewer) -> ModelsOut:
        """Per model type: default version, retrain state, thresholds and live accuracy."""
        served = provider.snapshot.versions
        return ModelsOut(
            models={t: views.model_status(store, t, served.get(t)) for t in MODEL_TYPES}
        )

    @app.post(
        "/v1/models/{model_type}/rollback", **_route(RollbackOut, "models", 404, 409, 422, 503)
    )
    def rollback_model(model_type: str, principal: Principal = admin) -> RollbackOut:
        """Make the current default's parent version the default again (admin only)."""
        out = rollback(store, settings, views.require_model_type(model_type), principal.name)
        provider.refresh()
        return out

    @app.post("/v1/models/{model_type}/reset", **_route(ResetOut, "models", 404, 422))
    def reset_model_state(
        model_type: str, body: ResetIn | None = None, principal: Principal = admin
    ) -> ResetOut:
        """Recover a stuck retrain state (admin only): TRIGGERED, INPROGRESS or FAILED becomes
        IDLE, the current cycle's claimed feedback rows are released and the cycle is marked
        FAILED; an audit line names who did it. Calling it again changes nothing."""
        reason = body.reason if body is not None else ""
        return reset_state(store, views.require_model_type(model_type), principal.name, reason)

    def stored_page(
        document_id: DocumentIdParam, page: PageParam, principal: Principal = reviewer
    ) -> dict[str, Any]:
        """The stored document, for a reviewer, once ``page`` is known to be one of its pages
        (else 404): what the page routes depend on."""
        document = store.documents.get_document(document_id)
        if page >= document["page_count"]:
            raise ApiError(
                404,
                f"document {document_id!r} has {document['page_count']} page(s); no page {page}",
            )
        return document

    page_of_document = Depends(stored_page)

    @app.get(
        "/v1/documents/{document_id}/pages/{page}.png",
        tags=["documents"],
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the page as a PNG image"},
            **_errors(401, 403, 404, 422),
        },
    )
    def page_image(page: PageParam, document: dict[str, Any] = page_of_document) -> Response:
        """One page of the document as a PNG, for the review page."""
        file_format = views.file_format(document["media_type"])
        blob = blobs.path_for(document["content_hash"], file_format)
        if not blob.is_file():
            raise ApiError(404, f"the file of document {document['id']!r} is no longer stored")
        png = cached_page_png(blob, file_format, page, renders_dir, document["content_hash"])
        return Response(png, media_type="image/png", headers={"Cache-Control": "private"})

    @app.get(
        "/v1/documents/{document_id}/pages/{page}/words",
        **_route(PageWordsOut, "documents", 404, 422),
    )
    def page_words(page: PageParam, document: dict[str, Any] = page_of_document) -> PageWordsOut:
        """The words of one page with their 0-1000 boxes (a drawn box takes its text from them)."""
        words = uploads.words_of(document)
        return PageWordsOut(
            document_id=document["id"],
            page=page,
            words=[WordOut(text=w.text, bbox=list(w.bbox)) for w in words if w.page == page],
        )

    @app.get("/v1/export", **_route(ExportOut, "admin", 422))
    def export_documents(
        since: Annotated[
            datetime | None, Query(description="committed at or after (ISO 8601; UTC if no zone)")
        ] = None,
        model_type: ModelTypeQuery = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: OffsetQuery = 0,
        principal: Principal = admin,
    ) -> ExportOut:
        """Committed documents with their verified type and entities (admin): for audits,
        training elsewhere, or ``selfimprove ingest`` after ``selfimprove export``."""
        records = exported_documents(store, since=views.as_utc(since), model_type=model_type)
        return views.export_out(records, offset, limit)

    @app.get("/review", include_in_schema=False)
    def review_queue_page() -> FileResponse:
        """The review page opened on the queue."""
        return _review_html()

    @app.get("/review/{document_id}", include_in_schema=False)
    def review_page(document_id: DocumentIdParam) -> FileResponse:
        """The review page (the document is fetched by its script, with the reviewer's token)."""
        return _review_html()

    return app


def _review_html() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "review.html",
        media_type="text/html",
        headers={
            # Page images are blob: URLs made by the script; nothing else leaves the origin,
            # and no Referer carries a ?token= anywhere.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )

"""Documents: upload and predict, the review queue, reviews and commits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from selfimprove_assets.api import views
from selfimprove_assets.api.auth import Principal
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.routing import (
    REVIEWER,
    DocumentIdParam,
    ModelTypeQuery,
    OffsetQuery,
    route,
)
from selfimprove_assets.api.schemas import (
    NO_CONTROL_CHARS,
    WORDS_PART,
    CommitIn,
    CommitOut,
    DocumentOut,
    LabelsOut,
    QueueOut,
    ReviewIn,
    UploadOut,
)
from selfimprove_assets.api.serving import PredictorProvider
from selfimprove_assets.api.uploads import UploadService
from selfimprove_assets.lib.store.repository import FeedbackStore


def add_documents_routes(
    router: APIRouter,
    store: FeedbackStore,
    provider: PredictorProvider,
    uploads: UploadService,
    config: ApiConfig,
) -> None:
    """The document routes on ``router``: upload and predict, the queue, reviews, commits."""

    @router.post(
        "/v1/documents",
        status_code=201,
        **route(UploadOut, "documents", 400, 409, 413, 415, 422, 503),
    )
    async def upload_document(
        file: Annotated[UploadFile, File(description="a PDF, PNG, JPEG or (multi-page) TIFF file")],
        external_id: Annotated[str | None, Form(max_length=200, pattern=NO_CONTROL_CHARS)] = None,
        words: Annotated[str | None, Form(description=WORDS_PART)] = None,
        principal: Principal = REVIEWER,
    ) -> UploadOut:
        """Store a document, predict its type and entities with the default models (on the
        ``words`` part's words when it is sent: no OCR for the pages it gives)."""
        data = await file.read(config.max_upload_bytes + 1)
        await file.close()
        uploads.check_bytes(data)
        return await run_in_threadpool(
            uploads.process, data, filename=file.filename, external_id=external_id, words=words
        )

    @router.get("/v1/documents/{document_id}", **route(DocumentOut, "documents", 404, 422))
    def get_document(document_id: DocumentIdParam, principal: Principal = REVIEWER) -> DocumentOut:
        """The prediction and the current review state of a document."""
        return views.document_view(store, document_id)

    @router.get("/v1/documents", **route(QueueOut, "documents", 422))
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
        view: Annotated[
            Literal["review", "straight_through", "all"],
            Query(description="review: documents that need review or were drawn for QA"),
        ] = "review",
        principal: Principal = REVIEWER,
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
            view=view,
        )
        return views.queue_out(total, items, offset, limit)

    @router.get("/v1/labels", **route(LabelsOut, "documents"))
    def list_labels(principal: Principal = REVIEWER) -> LabelsOut:
        """The document types and entity labels a reviewer picks from (models and reviews)."""
        return views.labels_out(store, provider.snapshot)

    @router.put(
        "/v1/documents/{document_id}/review", **route(DocumentOut, "documents", 400, 404, 409, 422)
    )
    def review_document(
        document_id: DocumentIdParam, review: ReviewIn, principal: Principal = REVIEWER
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

    @router.post("/v1/commits", **route(CommitOut, "documents", 400, 422))
    def commit_documents(body: CommitIn, principal: Principal = REVIEWER) -> CommitOut:
        """Compare predictions with reviews and count corrections; committing twice is a no-op."""
        return views.commit_out(views.commit(store, body.document_ids, principal.name))

"""A document's pages: the image and the words of one page, for the review page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from selfimprove_assets.api import views
from selfimprove_assets.api.auth import Principal
from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.render import cached_page_png
from selfimprove_assets.api.routing import REVIEWER, DocumentIdParam, PageParam, errors, route
from selfimprove_assets.api.schemas import PageWordsOut, WordOut
from selfimprove_assets.api.storage import BlobStore
from selfimprove_assets.api.uploads import UploadService
from selfimprove_assets.lib.store.repository import FeedbackStore


def add_pages_routes(
    router: APIRouter,
    store: FeedbackStore,
    uploads: UploadService,
    blobs: BlobStore,
    renders_dir: Path,
) -> None:
    """The page routes on ``router``: a page as a PNG and its words, for a reviewer."""

    def stored_page(
        document_id: DocumentIdParam, page: PageParam, principal: Principal = REVIEWER
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

    @router.get(
        "/v1/documents/{document_id}/pages/{page}.png",
        tags=["documents"],
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the page as a PNG image"},
            **errors(401, 403, 404, 422),
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

    @router.get(
        "/v1/documents/{document_id}/pages/{page}/words",
        **route(PageWordsOut, "documents", 404, 422),
    )
    def page_words(page: PageParam, document: dict[str, Any] = page_of_document) -> PageWordsOut:
        """The words of one page with their 0-1000 boxes (a drawn box takes its text from them)."""
        words = uploads.words_of(document)
        return PageWordsOut(
            document_id=document["id"],
            page=page,
            words=[WordOut(text=w.text, bbox=list(w.bbox)) for w in words if w.page == page],
        )

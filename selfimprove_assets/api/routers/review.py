"""The review page (static; its script calls the API with the reviewer's token)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from selfimprove_assets.api.routing import DocumentIdParam

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def add_review_routes(router: APIRouter) -> None:
    """The review page's routes on ``router`` (outside the OpenAPI schema)."""

    @router.get("/review", include_in_schema=False)
    def review_queue_page() -> FileResponse:
        """The review page opened on the queue."""
        return _review_html()

    @router.get("/review/{document_id}", include_in_schema=False)
    def review_page(document_id: DocumentIdParam) -> FileResponse:
        """The review page (the document is fetched by its script, with the reviewer's token)."""
        return _review_html()


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

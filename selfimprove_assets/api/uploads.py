"""From uploaded bytes to a stored, predicted document.

The order is chosen so that a refused upload leaves nothing behind: limits and type are checked
on the bytes, the models are resolved (409 when there is no default yet), words are extracted
and predicted in memory, and only then are the blob, the words cache and the database rows
written (blob and cache are content-addressed and idempotent; document and feedback rows are
one transaction).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.pdf_guard import InflationBomb, check_inflated_size
from selfimprove_assets.api.schemas import ModelVersions, UploadOut
from selfimprove_assets.api.serving import (
    ModelUnavailable,
    NoDefaultModel,
    PredictorProvider,
    ServedModels,
)
from selfimprove_assets.api.storage import (
    MEDIA_TYPES,
    BlobStore,
    sanitize_filename,
    sha256_hex,
)
from selfimprove_assets.api.views import prediction_out
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.documents.pages import (
    DocumentError,
    detect_type,
    extract_pages_from_bytes,
)
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import PageWords, Prediction

if TYPE_CHECKING:
    from selfimprove_assets.api.app import ApiConfig

logger = logging.getLogger(__name__)


def predicted_dicts(prediction: Prediction) -> dict[str, dict[str, object]]:
    """The store's ``predicted`` JSON per model type."""
    return {
        "classifier": {
            "doc_type": prediction.doc_type,
            "confidence": prediction.doc_type_confidence,
        },
        "extractor": {"entities": [e.to_dict() for e in prediction.entities]},
    }


def check_external_id(external_id: str | None) -> None:
    """An external id is the client's identifier, stored as text and never used as a path; one
    that looks like a path escape (``..`` segments) is refused as a malformed id."""
    if external_id is None:
        return
    if not external_id.strip():
        raise ApiError(422, "external_id is blank: leave it out or send an identifier")
    if ".." in external_id.replace("\\", "/").split("/"):
        raise ApiError(
            422, "external_id must be an identifier, not a path: '..' segments are not allowed"
        )


class UploadService:
    def __init__(
        self,
        store: FeedbackStore,
        provider: PredictorProvider,
        blobs: BlobStore,
        pages: PageStore,
        config: ApiConfig,
    ) -> None:
        self.store = store
        self.provider = provider
        self.blobs = blobs
        self.pages = pages
        self.config = config

    def check_bytes(self, data: bytes) -> str:
        """Cheap checks on the raw bytes; returns the detected kind (``pdf``/``png``/``jpeg``)."""
        limit = self.config.max_upload_bytes
        if len(data) > limit:
            raise ApiError(413, f"file is over the upload limit of {limit:,} bytes")
        if not data:
            raise ApiError(422, "file is empty")
        kind = detect_type(data[:1024])
        if kind is None:
            raise ApiError(
                415, "unsupported file type: upload a PDF, PNG or JPEG (detected from its content)"
            )
        return kind

    def _models(self) -> ServedModels:
        try:
            return self.provider.current()
        except NoDefaultModel as exc:
            raise ApiError(409, str(exc), code="no_default_model") from None
        except ModelUnavailable as exc:
            raise ApiError(503, f"the default model cannot be loaded: {exc}") from None

    def _extract(self, data: bytes, digest: str, name: str) -> PageWords:
        cached = self.pages.get(digest)
        if cached is not None:
            if cached.page_count > self.config.max_pages:
                raise ApiError(
                    413,
                    f"{name}: document has {cached.page_count} pages, over the limit of "
                    f"{self.config.max_pages}",
                )
            return cached
        try:
            return extract_pages_from_bytes(
                data,
                name=name,
                max_pages=self.config.max_pages,
                max_bytes=self.config.max_upload_bytes,
                ocr_dpi=self.config.ocr_dpi,
            )
        except DocumentError as exc:
            raise ApiError(exc.status_code, f"{name}: {exc.reason}", code=exc.kind) from None

    def check_content(self, data: bytes, kind: str, name: str) -> None:
        """Checks that cost CPU (run in the worker thread, never on the event loop)."""
        if kind != "pdf":
            return  # images: the pixel limit is checked from the header before decoding
        try:
            check_inflated_size(data, self.config.max_inflated_bytes)
        except InflationBomb as exc:
            raise ApiError(413, f"{name}: {exc}", code="decompression_bomb") from None

    def process(self, data: bytes, *, filename: str | None, external_id: str | None) -> UploadOut:
        """Extract, predict and store one upload (runs in a worker thread)."""
        kind = self.check_bytes(data)
        check_external_id(external_id)
        safe_name = sanitize_filename(filename)
        self.check_content(data, kind, safe_name or "upload")
        models = self._models()
        digest = sha256_hex(data)
        pages = self._extract(data, digest, safe_name or "upload")
        prediction = self.provider.predict(pages, snapshot=models)
        blob_path = self.blobs.put(data, kind, digest)
        pages_path = self.pages.put(digest, pages)
        predicted = predicted_dicts(prediction)
        versions = models.versions
        document_id = self.store.add_document(
            content_hash=digest,
            media_type=MEDIA_TYPES[kind],
            size_bytes=len(data),
            page_count=pages.page_count,
            pages_uri=str(pages_path),
            blob_uri=str(blob_path),
            filename=safe_name,
            external_id=external_id,
            ocr_pages=pages.ocr_pages,
            predictions=[(t, str(versions[t]), predicted[t]) for t in ("classifier", "extractor")],
        )
        logger.info(
            "document %s: %d page(s), %d words, predicted by %s",
            document_id,
            pages.page_count,
            len(pages.words),
            versions,
        )
        return UploadOut(
            id=document_id,
            content_hash=digest,
            page_count=pages.page_count,
            model_versions=ModelVersions(**versions),
            prediction=prediction_out(predicted["classifier"], predicted["extractor"]),
        )

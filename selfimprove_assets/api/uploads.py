"""From uploaded bytes to a stored, predicted document.

The order is chosen so that a refused upload leaves nothing behind: limits and type are checked
on the bytes, the models are resolved (409 when there is no default yet), words are extracted
and predicted in memory, and only then are the blob, the words cache and the database rows
written (blob and cache are content-addressed and idempotent; document and feedback rows are
one transaction).

An upload may bring its pages' words (the client's own OCR): those pages are not read, the
prediction is made on the words as given, and the page store keeps them under their own key
(the document row's ``pages_uri`` names it), apart from the file's extracted words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from selfimprove_assets.api.config import ApiConfig
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
from selfimprove_assets.api.views import file_format, prediction_out, review_url
from selfimprove_assets.lib.automation.routing import Rules, draw_qa, route
from selfimprove_assets.lib.documents.given_words import (
    GivenWords,
    GivenWordsError,
    parse_words_part,
)
from selfimprove_assets.lib.documents.page_count import count_pages_of_bytes
from selfimprove_assets.lib.documents.page_store import EXTRACTED, GIVEN, PageStore, pages_key
from selfimprove_assets.lib.documents.pages import (
    DocumentError,
    detect_type,
    extract_pages_from_bytes,
)
from selfimprove_assets.lib.store.repository import NO_MODEL_VERSION, FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES, PageWords, Prediction, Word

logger = logging.getLogger(__name__)


def predicted_dicts(prediction: Prediction) -> dict[str, dict[str, Any]]:
    """The store's ``predicted`` JSON per model type."""
    return {
        "classifier": {
            "doc_type": prediction.doc_type,
            "confidence": prediction.doc_type_confidence,
        },
        "extractor": {"entities": [e.to_dict() for e in prediction.entities]},
    }


def route_prediction(
    predicted: dict[str, dict[str, Any]], models: ServedModels, qa_share: float
) -> tuple[bool, bool]:
    """Mark in ``predicted`` which fields the served versions' cut-offs accept; ``(needs_review,
    qa_sample)``. A straight-through document drawn for QA is shown with nothing pre-confirmed:
    its accepted fields are kept as ``qa_accepted`` (what QA measures), not ``auto_accepted``."""
    entities = predicted["extractor"]["entities"]
    routing = route(
        entities,
        doc_type=predicted["classifier"].get("doc_type"),
        doc_type_confidence=predicted["classifier"].get("confidence"),
        classifier=Rules.of(models.classifier.bundle.spec) if models.classifier else None,
        extractor=Rules.of(models.extractor.bundle.spec) if models.extractor else None,
    )
    for model_type, predictor in (
        ("classifier", models.classifier),
        ("extractor", models.extractor),
    ):
        if predictor is not None:
            predicted[model_type]["cutoffs"] = dict(predictor.bundle.spec.cutoffs)
    qa = not routing.needs_review and draw_qa(qa_share)
    flag = "qa_accepted" if qa else "auto_accepted"
    for entity, accepted in zip(entities, routing.auto_accepted, strict=True):
        entity[flag] = accepted
    if routing.doc_type_accepted is not None:
        predicted["classifier"][flag] = routing.doc_type_accepted
    return routing.needs_review, qa


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


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def unsupported_reason(head: bytes) -> str:
    """The 415 message: what is accepted, and what the file looks like when we can tell."""
    accepted = "upload a PDF, PNG, JPEG or TIFF (the type is detected from the content)"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return (
            "HEIC/HEIF photos are not supported: "
            + accepted
            + "; phones export JPEG (on iPhone: Settings > Camera > Formats > Most Compatible)"
        )
    if head.startswith((b"GIF87a", b"GIF89a")):
        return f"GIF images are not supported: {accepted}"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return f"WebP images are not supported: {accepted}"
    if head.startswith(b"PK\x03\x04"):
        return f"ZIP archives (and Office files) are not supported: {accepted}"
    return f"unsupported file type: {accepted}"


@dataclass
class UploadService:
    """Where an upload goes: the store, the served models, the blobs and page caches."""

    store: FeedbackStore
    provider: PredictorProvider
    blobs: BlobStore
    pages: PageStore
    config: ApiConfig

    def check_bytes(self, data: bytes) -> str:
        """Cheap checks on the raw bytes; returns the detected kind (``pdf``/``png``/``jpeg``)."""
        limit = self.config.max_upload_bytes
        if len(data) > limit:
            raise ApiError(413, f"file is over the upload limit of {limit:,} bytes")
        if not data:
            raise ApiError(422, "file is empty")
        kind = detect_type(data[:1024])
        if kind is None:
            raise ApiError(415, unsupported_reason(data[:64]))
        return kind

    def _models(self) -> ServedModels:
        try:
            return self.provider.current()
        except NoDefaultModel as exc:
            raise ApiError(409, str(exc), code="no_default_model") from None
        except ModelUnavailable as exc:
            raise ApiError(503, f"the default model cannot be loaded: {exc}") from None

    def _extract(self, data: bytes, digest: str, name: str) -> PageWords:
        cached = self.pages.get(digest, source=EXTRACTED)
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

    def _given(self, data: bytes, digest: str, name: str, given: GivenWords) -> PageWords:
        """The upload's words from its ``words`` part (pages it does not give are read)."""
        try:
            page_count = count_pages_of_bytes(data, name=name, max_pages=self.config.max_pages)
            extracted = None
            if given.missing_pages(page_count):
                extracted = self._extract(data, digest, name)
            return given.page_words(page_count, extracted)
        except DocumentError as exc:
            raise ApiError(exc.status_code, f"{name}: {exc.reason}", code=exc.kind) from None
        except GivenWordsError as exc:
            raise ApiError(422, str(exc), code="invalid_words") from None

    def words_of(self, document: dict[str, Any]) -> list[Word]:
        """The words of a stored document: from the words cache, or extracted again from its
        file (and cached) when the cache was cleared. Given words live only in the cache."""
        digest = document["content_hash"]
        key = pages_key(digest, document.get("pages_uri"))
        cached = self.pages.get(key)
        if cached is None and key != digest:
            raise ApiError(
                404, f"the given words of document {document['id']!r} are no longer stored"
            )
        if cached is None:
            stored_as = file_format(document["media_type"])
            blob = self.blobs.path_for(digest, stored_as)
            if not blob.is_file():
                raise ApiError(404, f"the file of document {document['id']!r} is no longer stored")
            cached = self._extract(blob.read_bytes(), digest, document.get("filename") or "upload")
            self.pages.put(digest, cached)
        return cached.words

    def check_content(self, data: bytes, kind: str, name: str) -> None:
        """Checks that cost CPU (run in the worker thread, never on the event loop)."""
        if kind != "pdf":
            return  # images: the pixel limit is checked from the header before decoding
        try:
            check_inflated_size(data, self.config.max_inflated_bytes)
        except InflationBomb as exc:
            raise ApiError(413, f"{name}: {exc}", code="decompression_bomb") from None

    def process(
        self,
        data: bytes,
        *,
        filename: str | None,
        external_id: str | None,
        words: str | None = None,
    ) -> UploadOut:
        """Extract (or take the ``words`` part's words), predict and store one upload (runs in a
        worker thread)."""
        kind = self.check_bytes(data)
        check_external_id(external_id)
        given = None
        if words is not None:
            try:
                given = parse_words_part(words)
            except GivenWordsError as exc:
                raise ApiError(422, str(exc), code="invalid_words") from None
        safe_name = sanitize_filename(filename)
        self.check_content(data, kind, safe_name or "upload")
        models = self._models()
        digest = sha256_hex(data)
        if given is None:
            pages = self._extract(data, digest, safe_name or "upload")
        else:
            pages = self._given(data, digest, safe_name or "upload", given)
        prediction = self.provider.predict(pages, snapshot=models)
        blob_path = self.blobs.put(data, kind, digest)
        if given is None:
            pages_path = self.pages.put(digest, pages)
        else:
            pages_path = self.pages.put(given.key(digest), pages, source=GIVEN)
        predicted = predicted_dicts(prediction)
        needs_review, qa_sample = route_prediction(predicted, models, self.config.qa_share)
        for model_type, why in models.not_needed.items():
            predicted[model_type]["not_needed"] = why
        versions = models.versions
        document_id = self.store.documents.add_document(
            content_hash=digest,
            media_type=MEDIA_TYPES[kind],
            size_bytes=len(data),
            page_count=pages.page_count,
            pages_uri=str(pages_path),
            blob_uri=str(blob_path),
            filename=safe_name,
            external_id=external_id,
            ocr_pages=pages.ocr_pages,
            needs_review=needs_review,
            qa_sample=qa_sample,
            predictions=[(t, versions[t] or NO_MODEL_VERSION, predicted[t]) for t in MODEL_TYPES],
        )
        logger.info(
            "document %s: %d page(s), %d %s words, predicted by %s",
            document_id,
            pages.page_count,
            len(pages.words),
            "given" if given is not None else "extracted",
            versions,
        )
        return UploadOut(
            id=document_id,
            content_hash=digest,
            page_count=pages.page_count,
            model_versions=ModelVersions(**versions),
            prediction=prediction_out(
                predicted["classifier"],
                predicted["extractor"],
                needs_review=needs_review or qa_sample,
            ),
            review_url=review_url(document_id),
        )

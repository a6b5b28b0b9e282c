"""Shared pieces of the store tests."""

from __future__ import annotations

from typing import Any

from selfimprove_assets.lib.store.repository import FeedbackStore


def entity(label: str, text: str, y: int = 10) -> dict[str, Any]:
    """An extractor entity on page 0, a 40x10 box at height ``y``."""
    return {"label": label, "text": text, "page": 0, "bbox": [10, y, 50, y + 10]}


def stored_document(
    store: FeedbackStore, content_hash: str, predictions: list[tuple[str, str, dict[str, Any]]]
) -> str:
    """A one-page PDF document in the store with these (model type, version, prediction)s."""
    return store.add_document(
        content_hash=content_hash,
        media_type="application/pdf",
        size_bytes=1,
        page_count=1,
        pages_uri="p",
        blob_uri="b",
        predictions=predictions,
    )


def assert_counters_equal_recount(store: FeedbackStore, n_documents: int) -> None:
    """Both models' live counters equal a recount, and every document was committed once."""
    for model_type in ("classifier", "extractor"):
        assert store.live_counters(model_type, "1") == store.recount(model_type, "1")
    assert store.live_counters("classifier", "1")["doc_type"]["committed"] == n_documents

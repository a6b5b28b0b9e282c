"""Shared pieces of the store tests."""

from __future__ import annotations

from hashlib import sha256
from typing import Any

from selfimprove_assets.lib.store.repository import FeedbackStore


def entity(label: str, text: str, y: int = 10) -> dict[str, Any]:
    """An extractor entity on page 0, a 40x10 box at height ``y``."""
    return {"label": label, "text": text, "page": 0, "bbox": [10, y, 50, y + 10]}


def stored_document(
    store: FeedbackStore, content_hash: str, predictions: list[tuple[str, str, dict[str, Any]]]
) -> str:
    """A one-page PDF document in the store with these (model type, version, prediction)s."""
    return store.documents.add_document(
        content_hash=content_hash,
        media_type="application/pdf",
        size_bytes=1,
        page_count=1,
        pages_uri="p",
        blob_uri="b",
        predictions=predictions,
    )


def commit_reviews(store: FeedbackStore, n: int, wrong: int, start: int = 0) -> None:
    """``n`` committed documents that classifier v1 called invoices; reviewers correct the first
    ``wrong`` to referrals."""
    ids = []
    for i in range(start, start + n):
        doc = stored_document(
            store,
            sha256(f"h{i}".encode()).hexdigest(),
            [("classifier", "1", {"doc_type": "invoice", "confidence": 0.9})],
        )
        verified = "referral" if i - start < wrong else "invoice"
        store.commits.set_review(doc, verified={"classifier": {"doc_type": verified}})
        ids.append(doc)
    store.commits.commit_documents(ids)


def add_documents(store: FeedbackStore, n: int = 1, version: str = "1") -> list[str]:
    """``n`` documents that both models of ``version`` predicted: a referral (confidence 0.9)
    with a patient name and an MRN."""
    predictions: list[tuple[str, str, dict[str, Any]]] = [
        ("classifier", version, {"doc_type": "referral", "confidence": 0.9}),
        (
            "extractor",
            version,
            {"entities": [entity("patient_name", "Ann Lee"), entity("mrn", "123")]},
        ),
    ]
    return [stored_document(store, f"h{i}", predictions) for i in range(n)]


def review(
    store: FeedbackStore, doc_id: str, doc_type: str, entities: list[dict[str, Any]]
) -> None:
    """Reviewer ``r1`` verifies both predictions of a document."""
    store.commits.set_review(
        doc_id,
        verified={"classifier": {"doc_type": doc_type}, "extractor": {"entities": entities}},
        reviewer="r1",
    )


def assert_counters_equal_recount(store: FeedbackStore, n_documents: int) -> None:
    """Both models' live counters equal a recount, and every document was committed once."""
    for model_type in ("classifier", "extractor"):
        assert store.counters.live_counters(model_type, "1") == store.counters.recount(
            model_type, "1"
        )
    assert store.counters.live_counters("classifier", "1")["doc_type"]["committed"] == n_documents

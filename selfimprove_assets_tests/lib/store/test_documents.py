"""Documents and the review queue (``store.documents``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from selfimprove_assets.lib.store.repository import FeedbackStore, NotFound, StoreError
from selfimprove_assets.lib.store.tables import DocumentRow, FeedbackRow
from selfimprove_assets_tests.lib.store.factories import add_documents, entity, review


def test_failed_transaction_leaves_no_partial_rows(store_url: str) -> None:
    store = FeedbackStore(store_url)
    with pytest.raises(IntegrityError):
        store.documents.add_document(
            content_hash="h",
            media_type="application/pdf",
            size_bytes=1,
            page_count=1,
            pages_uri="p",
            blob_uri="b",
            # the second prediction violates the (document, model type) unique constraint
            predictions=[("classifier", "1", {"doc_type": "a"}), ("classifier", "1", {})],
        )
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(DocumentRow)) == 0
        assert s.scalar(select(func.count()).select_from(FeedbackRow)) == 0
    store.dispose()


def test_review_queue_follows_each_document_through_review_and_commit(store_url: str) -> None:
    store = FeedbackStore(store_url)
    fresh, reviewed, committed = add_documents(store, 3)
    review(store, reviewed, "invoice", [])
    review(store, committed, "referral", [entity("patient_name", "Ann Lee")])
    store.commits.commit_documents([committed], committed_by="alice")

    def queue(**filters: Any) -> set[str]:
        total, items = store.documents.list_documents(**filters)
        assert total == len(items)
        return {item["id"] for item in items}

    assert queue(status="unreviewed") == {fresh}
    assert queue(status="reviewed") == {reviewed}
    assert queue(status="committed") == {committed}
    assert queue(doc_type="referral") == {fresh, reviewed, committed}
    assert queue(doc_type="invoice") == set()  # the predicted type, not the reviewed one
    assert queue(model_version="1", model_type="extractor") == {fresh, reviewed, committed}
    assert queue(model_version="2") == set()
    total, page = store.documents.list_documents(order="confidence", limit=2)
    assert total == 3 and len(page) == 2
    assert page[0]["min_confidence"] == 0.9 and page[0]["predicted_doc_type"] == "referral"
    with pytest.raises(StoreError):
        store.documents.list_documents(status="lost")

    document = store.documents.get_document(committed)
    assert document["feedback"]["classifier"]["committed_by"] == "alice"
    assert document["feedback"]["extractor"]["verified"] == {
        "entities": [entity("patient_name", "Ann Lee")]
    }
    assert store.documents.get_document(fresh)["feedback"]["classifier"]["verified"] is None
    with pytest.raises(NotFound):
        store.documents.get_document("missing")
    assert store.documents.count_documents() == 3
    # labels come from the counters, so only committed documents' fields count
    assert store.documents.known_labels() == {
        "doc_types": ["referral"],
        "labels": ["mrn", "patient_name"],
    }
    store.dispose()

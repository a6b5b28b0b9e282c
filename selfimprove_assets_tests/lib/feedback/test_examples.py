"""Reviewed documents become examples that carry the reviewer's values as their truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.feedback.examples import feedback_examples
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import Entity, PageWords, Word
from selfimprove_assets_tests.lib.store.factories import stored_document

WORDS = ["patient", "Ann", "Lee", "member", "X12"]
KNOWN, UNKNOWN = "a" * 64, "b" * 64  # content hashes with and without stored pages


def _document(store: FeedbackStore, content_hash: str, predicted: list[dict[str, Any]]) -> str:
    return stored_document(
        store,
        content_hash,
        [
            ("classifier", "1", {"doc_type": "referral", "confidence": 0.9}),
            ("extractor", "1", {"entities": predicted}),
        ],
    )


def test_verified_entities_are_the_truth_including_those_on_no_word(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    pages = PageStore(tmp_path / "pages")
    words = [Word(t, (10 + 80 * i, 10, 80 + 80 * i, 30), 0) for i, t in enumerate(WORDS)]
    pages.put(KNOWN, PageWords(words=words, page_count=1))
    name = {"label": "patient", "text": "Ann Lee", "page": 0, "confidence": 0.8}
    reviewed = _document(store, KNOWN, [name])
    verified = [
        name,  # confirmed as predicted (it keeps no model confidence as a label)
        {"label": "member_id", "text": "Q99-4471", "page": 0},  # typed in: not a page word
    ]
    store.commits.set_review(
        reviewed,
        verified={"classifier": {"doc_type": "referral"}, "extractor": {"entities": verified}},
    )
    type_only = _document(store, KNOWN, [])
    store.commits.set_review(type_only, verified={"classifier": {"doc_type": "invoice"}})
    unknown_pages = _document(store, UNKNOWN, [])

    rows = [{"document_id": d} for d in (reviewed, type_only, unknown_pages)]
    examples, skipped = feedback_examples(store, pages, rows, source="holdout")
    assert skipped == [unknown_pages]
    by_id = {e.document_id: e for e in examples}
    first = by_id[reviewed]
    assert first.source == "holdout" and first.doc_type == "referral"
    assert first.entities == [
        Entity("patient", "Ann Lee", 0),
        Entity("member_id", "Q99-4471", 0),
    ]
    assert example_truth(first) == first.entities
    assert first.word_tags == ["O", "B-patient", "I-patient", "O", "O"]  # Q99-4471 on no word
    # no entity review: nothing to score entities against beyond the (empty) tags
    assert by_id[type_only].entities is None and by_id[type_only].doc_type == "invoice"
    assert example_truth(by_id[type_only]) == []

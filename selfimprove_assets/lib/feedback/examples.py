"""Committed feedback → training examples: the reviewer's verified metadata over page words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selfimprove_assets.lib.documents.corpus import align_entities, to_training_example
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import Entity, TrainingExample


def feedback_examples(
    store: FeedbackStore,
    pages: PageStore,
    rows: Iterable[dict[str, Any]],
    *,
    source: str,
) -> tuple[list[TrainingExample], list[str]]:
    """Build one example per feedback row; returns the examples and the documents skipped.

    A classifier row gives the verified type; its entities come from the same document's
    extractor review when there is one (so both models can learn from one review).
    """
    examples: list[TrainingExample] = []
    skipped: list[str] = []
    for row in rows:
        doc = store.get_document(row["document_id"])
        words = pages.get(doc["content_hash"])
        if words is None:
            skipped.append(row["document_id"])
            continue
        verified_by_type = {t: (f.get("verified") or {}) for t, f in doc["feedback"].items()}
        doc_type = verified_by_type.get("classifier", {}).get("doc_type") or (
            (row.get("verified") or {}).get("doc_type") or "unknown"
        )
        entities = [
            Entity.from_dict(e) for e in verified_by_type.get("extractor", {}).get("entities", [])
        ]
        tags = align_entities(words.words, entities).tags
        example = to_training_example(row["document_id"], doc_type, words, tags)
        example.source = source
        examples.append(example)
    return examples, skipped

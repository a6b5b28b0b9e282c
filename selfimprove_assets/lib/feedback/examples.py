"""Committed feedback → training examples: the reviewer's verified metadata over page words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.corpus import to_training_example
from selfimprove_assets.lib.documents.page_store import PageStore, pages_key
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
    extractor review when there is one (so both models can learn from one review). Each
    example carries the verified entities as written (``TrainingExample.entities``).
    """
    examples: list[TrainingExample] = []
    skipped: list[str] = []
    for row in rows:
        doc = store.documents.get_document(row["document_id"])
        words = pages.get(pages_key(doc["content_hash"], doc.get("pages_uri")))
        if words is None:
            skipped.append(row["document_id"])
            continue
        verified_by_type = {t: (f.get("verified") or {}) for t, f in doc["feedback"].items()}
        doc_type = verified_by_type.get("classifier", {}).get("doc_type") or (
            (row.get("verified") or {}).get("doc_type") or "unknown"
        )
        review = verified_by_type.get("extractor", {})
        entities = [Entity.from_dict(e) for e in review.get("entities", [])]
        tags = align_entities(words.words, entities).tags
        example = to_training_example(row["document_id"], doc_type, words, tags)
        example.source = source
        # The reviewer's values are the truth a production slice is scored against, also
        # those the alignment could not place; without an entity review there is none.
        example.entities = [_as_label(e) for e in entities] if "entities" in review else None
        examples.append(example)
    return examples, skipped


def _as_label(entity: Entity) -> Entity:
    """A verified entity as a label: what the reviewer confirmed, without a model confidence."""
    return Entity(label=entity.label, text=entity.text, page=entity.page, bbox=entity.bbox)

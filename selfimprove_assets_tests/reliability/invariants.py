"""Invariants every reliability test ends with: a correction is counted once, and only once."""

from __future__ import annotations

from typing import Any

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES


def assert_counters_equal_recount(store: FeedbackStore) -> int:
    """Live counters of every version equal a recount from the rows; returns commits counted."""
    counted = 0
    for model_type in MODEL_TYPES:
        for info in store.models.list_versions(model_type):
            live = store.counters.live_counters(model_type, info.version)
            recounted = store.counters.recount(model_type, info.version)
            assert live == recounted, (model_type, info.version)
            counted += sum(c["committed"] for c in live.values())
    return counted


def review_body(prediction: dict[str, Any]) -> dict[str, Any]:
    """A reviewer's correction: keep the predicted entities, change the type (a correction)."""
    entities = [
        {k: e[k] for k in ("label", "text", "page", "bbox") if e.get(k) is not None}
        for e in prediction["entities"]
    ]
    return {"doc_type": "reviewed_type", "entities": entities}

"""Live figures of the default models, read from the running counters (never a table scan)."""

from __future__ import annotations

from typing import Any

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES


def field_figures(counts: dict[str, int]) -> dict[str, Any]:
    """Accuracy, precision, recall and F1 of one field from its outcome counts.

    accuracy = unchanged / (unchanged + modified + added + removed): 1 - corrected / committed
    at the level of fields; precision counts modified and removed predictions against the model,
    recall counts modified and added ones.
    """
    unchanged = counts.get("unchanged", 0)
    modified = counts.get("modified", 0)
    added = counts.get("added", 0)
    removed = counts.get("removed", 0)
    n = unchanged + modified + added + removed
    predicted = unchanged + modified + removed
    actual = unchanged + modified + added
    precision = unchanged / predicted if predicted else None
    recall = unchanged / actual if actual else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "accuracy": unchanged / n if n else None,
        "n": n,
        "documents": counts.get("committed", 0),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def live_figures(store: FeedbackStore, model_type: str, version: str) -> dict[str, dict[str, Any]]:
    return {
        name: field_figures(counts)
        for name, counts in sorted(store.live_counters(model_type, version).items())
    }


def models_overview(store: FeedbackStore) -> dict[str, dict[str, Any]]:
    overview: dict[str, dict[str, Any]] = {}
    for model_type in MODEL_TYPES:
        default = store.get_default(model_type)
        if default is None:
            overview[model_type] = {
                "default_version": None,
                "retrain_state": None,
                "thresholds": {},
                "live": {},
            }
            continue
        overview[model_type] = {
            "default_version": default.version,
            "retrain_state": default.retrain_state,
            "state_reason": default.state_reason,
            "thresholds": default.thresholds,
            "live": live_figures(store, model_type, default.version),
        }
    return overview

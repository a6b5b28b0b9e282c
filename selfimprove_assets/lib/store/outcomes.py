"""Turn a prediction and a verified review into per-field outcomes for counters and curation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.diff import diff_classification, diff_entities
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import Entity

OUTCOME_KEYS = ("unchanged", "modified", "added", "removed")


@dataclass
class CommitOutcome:
    corrected: bool
    field_outcomes: dict[str, dict[str, int]]
    counter_deltas: dict[str, dict[str, int]] = field(default_factory=dict)


def entity_key(entity: dict[str, Any]) -> tuple[str, int, str]:
    """What makes two entity dicts the same value: label, page and normalized text."""
    return (
        str(entity.get("label")),
        int(entity.get("page", 0) or 0),
        normalize_text(str(entity.get("text", ""))),
    )


def without_untouched_accepted(
    predicted: list[dict[str, Any]], verified: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both lists without the auto-accepted predicted entities the reviewer left as they were
    (and their verified twins): a field shown pre-confirmed and left alone is neither a
    correction nor a confirmation (the QA sample measures the accepted fields, unanchored)."""
    remaining = list(verified)
    kept: list[dict[str, Any]] = []
    for entity in predicted:
        if entity.get("auto_accepted"):
            twin = next((v for v in remaining if entity_key(v) == entity_key(entity)), None)
            if twin is not None:
                remaining.remove(twin)
                continue
        kept.append(entity)
    return kept, remaining


def compute_outcome(
    model_type: str, predicted: dict[str, Any], verified: dict[str, Any]
) -> CommitOutcome:
    """Per-field outcomes of a review; untouched auto-accepted fields are left out of them."""
    if not kind_of(model_type).entity_level:
        if predicted.get("auto_accepted") and predicted.get("doc_type") == verified["doc_type"]:
            return CommitOutcome(False, {}, {})
        result = diff_classification(predicted.get("doc_type"), str(verified["doc_type"]))
        corrected = bool(result.corrected)
        outcomes = {"doc_type": {"unchanged": int(not corrected), "modified": int(corrected)}}
        deltas = {"doc_type": {"committed": 1, "corrected": int(corrected), **outcomes["doc_type"]}}
        return CommitOutcome(corrected, outcomes, deltas)
    shown, checked = without_untouched_accepted(
        list(predicted.get("entities", [])), list(verified.get("entities", []))
    )
    predicted_entities = [Entity.from_dict(e) for e in shown]
    verified_entities = [Entity.from_dict(e) for e in checked]
    diff = diff_entities(predicted_entities, verified_entities)
    outcomes: dict[str, dict[str, int]] = {
        label: {k: int(counts.get(k, 0)) for k in OUTCOME_KEYS}
        for label, counts in diff.counts.items()
    }
    deltas: dict[str, dict[str, int]] = {}
    any_corrected = False
    for label, counts in outcomes.items():
        label_corrected = counts["modified"] + counts["added"] + counts["removed"] > 0
        any_corrected = any_corrected or label_corrected
        deltas[label] = {"committed": 1, "corrected": int(label_corrected), **counts}
    return CommitOutcome(any_corrected, outcomes, deltas)

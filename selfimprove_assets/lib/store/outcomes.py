"""Turn a prediction and a verified review into per-field outcomes for counters and curation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.diff import diff_classification, diff_entities
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.types import Entity

OUTCOME_KEYS = ("unchanged", "modified", "added", "removed")


@dataclass
class CommitOutcome:
    corrected: bool
    field_outcomes: dict[str, dict[str, int]]
    counter_deltas: dict[str, dict[str, int]] = field(default_factory=dict)


def compute_outcome(
    model_type: str, predicted: dict[str, Any], verified: dict[str, Any]
) -> CommitOutcome:
    if not kind_of(model_type).entity_level:
        result = diff_classification(predicted.get("doc_type"), str(verified["doc_type"]))
        corrected = bool(result.corrected)
        outcomes = {"doc_type": {"unchanged": int(not corrected), "modified": int(corrected)}}
        deltas = {"doc_type": {"committed": 1, "corrected": int(corrected), **outcomes["doc_type"]}}
        return CommitOutcome(corrected, outcomes, deltas)
    predicted_entities = [Entity.from_dict(e) for e in predicted.get("entities", [])]
    verified_entities = [Entity.from_dict(e) for e in verified.get("entities", [])]
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

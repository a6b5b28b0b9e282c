"""Calibration of decoded entity confidence: isotonic maps per label, pooled where data is thin.

The target of a decoded entity is whether it is right as the scorer counts it (label, page and
normalized text equal a labeled entity's, ``lib.evaluation.scoring``). A label with at least
``min_label_examples`` held-out entities gets its own monotone map; the others share the map
fitted on all entities together. The maps are stored as JSON with the version's spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import Entity

POOLED = "*"
BINS = 10


@dataclass(frozen=True)
class Scored:
    """One held-out decision: its field, raw confidence and whether it was right."""

    field: str
    confidence: float
    correct: bool


def entity_outcomes(truth: Sequence[Entity], predicted: Sequence[Entity]) -> list[Scored]:
    """Each predicted entity, right when an unmatched labeled entity has its label, page and
    normalized text (the scorer's rule: each labeled entity matches at most once)."""
    remaining = [(e.label, int(e.page), normalize_text(e.text)) for e in truth]
    out: list[Scored] = []
    for entity in predicted:
        key = (entity.label, int(entity.page), normalize_text(entity.text))
        hit = key in remaining
        if hit:
            remaining.remove(key)
        conf = 0.0 if entity.confidence is None else float(entity.confidence)
        out.append(Scored(entity.label, conf, hit))
    return out


def _fit_map(scored: Sequence[Scored]) -> dict[str, list[float]]:
    x = np.array([s.confidence for s in scored], dtype=float)
    y = np.array([1.0 if s.correct else 0.0 for s in scored])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}


@dataclass
class Calibrator:
    """Monotone maps from raw to calibrated confidence, by label (``*``: pooled)."""

    maps: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def apply(self, label: str, confidence: float) -> float:
        table = self.maps.get(label) or self.maps.get(POOLED)
        if not table or not table["x"]:
            return confidence
        return float(np.interp(confidence, table["x"], table["y"]))

    def calibrate(self, scored: Sequence[Scored]) -> list[Scored]:
        return [Scored(s.field, self.apply(s.field, s.confidence), s.correct) for s in scored]

    def to_dict(self) -> dict[str, Any]:
        return {"maps": self.maps}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibrator | None:
        if not data:
            return None
        return cls(
            maps={k: {"x": list(v["x"]), "y": list(v["y"])} for k, v in data["maps"].items()}
        )


def fit_calibrator(scored: Sequence[Scored], min_label_examples: int) -> Calibrator:
    """Isotonic maps: one per label with ``min_label_examples`` entities and both outcomes,
    and a pooled one for the rest (none when there is nothing to fit)."""
    maps: dict[str, dict[str, list[float]]] = {}
    if scored:
        maps[POOLED] = _fit_map(scored)
    for label in sorted({s.field for s in scored}):
        mine = [s for s in scored if s.field == label]
        if len(mine) >= min_label_examples and len({s.correct for s in mine}) == 2:
            maps[label] = _fit_map(mine)
    return Calibrator(maps)


def reliability_table(scored: Sequence[Scored], bins: int = BINS) -> list[dict[str, float]]:
    """Equal-width confidence bins: count, mean confidence and accuracy of each non-empty one."""
    rows: list[dict[str, float]] = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [
            s for s in scored if lo <= s.confidence < hi or (b == bins - 1 and s.confidence >= hi)
        ]
        if inside:
            rows.append(
                {
                    "lower": lo,
                    "upper": hi,
                    "count": float(len(inside)),
                    "confidence": float(np.mean([s.confidence for s in inside])),
                    "accuracy": float(np.mean([s.correct for s in inside])),
                }
            )
    return rows


def expected_calibration_error(scored: Sequence[Scored], bins: int = BINS) -> float:
    """The count-weighted mean gap between confidence and accuracy over the bins (0 if empty)."""
    total = len(scored)
    if not total:
        return 0.0
    table = reliability_table(scored, bins)
    return float(sum(r["count"] * abs(r["confidence"] - r["accuracy"]) for r in table) / total)

"""Compare what a model predicted with what the reviewer verified.

The diff is the raw signal of the whole loop: the monitor turns its counts into accuracy, and
curation picks training rows from it. It therefore has to be deterministic and symmetric in
the obvious ways (a document compared with itself is all ``unchanged``), and every predicted
and every verified entity must be accounted for exactly once.

Entity matching rule (applied independently within each label):

1. **Unchanged** — a predicted and a verified entity on the same page whose *normalized* texts
   are equal (see :func:`selfimprove_assets.lib.text.normalize_text`, the same
   normalization the offline scores use). Equal keys are interchangeable, so this step is a
   multiset intersection and does not depend on list order.
2. **Modified** — the remaining predicted and verified entities of that label are paired
   greedily, best pair first, by ``score = max(box IoU, text similarity)``; IoU counts only
   when both boxes exist and lie on the same page, text similarity is
   :class:`difflib.SequenceMatcher` on the normalized texts. Pairs scoring below
   ``min_pair_score`` (default 0: pair everything) stay unpaired. A reviewer who retypes the
   value of a single-valued field (a new patient name) has *modified* it, which is why the
   default pairs even dissimilar values.
3. **Removed** — predicted entities left over (the model said something the reviewer deleted).
4. **Added** — verified entities left over (the reviewer supplied something the model missed).

Hence, per label: ``unchanged + modified + removed == #predicted`` and
``unchanged + modified + added == #verified``.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import BBox, Entity, FieldOutcome

OUTCOME_KEYS: tuple[str, ...] = tuple(o.value for o in FieldOutcome)


def box_iou(a: BBox | None, b: BBox | None) -> float:
    """Intersection over union of two boxes; 0 when either is missing or degenerate."""
    if a is None or b is None:
        return 0.0
    ix0, iy0 = max(a[0], b[0]), max(a[1], b[1])
    ix1, iy1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, ix1 - ix0) * max(0, iy1 - iy0)
    area_a = max(0, a[2] - a[0]) * max(0, a[3] - a[1])
    area_b = max(0, b[2] - b[0]) * max(0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def text_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two normalized texts (1 for equal, including both empty)."""
    na, nb = normalize_text(a), normalize_text(b)
    if na == nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


@dataclass(frozen=True)
class ClassificationDiff:
    predicted_type: str | None
    verified_type: str
    corrected: bool


def diff_classification(predicted_type: str | None, verified_type: str) -> ClassificationDiff:
    """A type is corrected when the reviewer's type differs from the prediction.

    A missing prediction (``None``) counts as corrected: the reviewer had to supply the type.
    Types are identifiers, so only surrounding whitespace is ignored, not case.
    """
    if not isinstance(verified_type, str) or not verified_type.strip():
        raise ValueError(f"verified_type must be a non-empty string, got {verified_type!r}")
    verified = verified_type.strip()
    predicted = predicted_type.strip() if predicted_type is not None else None
    return ClassificationDiff(predicted, verified, corrected=predicted != verified)


@dataclass(frozen=True)
class EntityOutcome:
    """What happened to one predicted and/or verified entity."""

    label: str
    outcome: FieldOutcome
    predicted: Entity | None
    verified: Entity | None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "outcome": self.outcome.value,
            "predicted": self.predicted.to_dict() if self.predicted else None,
            "verified": self.verified.to_dict() if self.verified else None,
            "score": self.score,
        }


@dataclass
class EntityDiff:
    """Per-label outcome counts plus one record per entity, for storage and explanations."""

    counts: dict[str, dict[str, int]]
    records: list[EntityOutcome] = field(default_factory=list)

    @property
    def corrected(self) -> bool:
        """True when the reviewer changed, added or removed anything."""
        return any(
            c[FieldOutcome.MODIFIED] + c[FieldOutcome.ADDED] + c[FieldOutcome.REMOVED] > 0
            for c in self.counts.values()
        )

    def corrected_labels(self) -> list[str]:
        return sorted(
            label
            for label, c in self.counts.items()
            if c[FieldOutcome.MODIFIED] + c[FieldOutcome.ADDED] + c[FieldOutcome.REMOVED] > 0
        )

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOME_KEYS, 0)
        for c in self.counts.values():
            for key in OUTCOME_KEYS:
                out[key] += c[key]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {label: dict(c) for label, c in self.counts.items()},
            "records": [r.to_dict() for r in self.records],
        }


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOME_KEYS, 0)


def _pair_score(p: Entity, v: Entity) -> float:
    iou = box_iou(p.bbox, v.bbox) if p.page == v.page else 0.0
    return max(iou, text_similarity(p.text, v.text))


def diff_entities(
    predicted: list[Entity], verified: list[Entity], *, min_pair_score: float = 0.0
) -> EntityDiff:
    """Diff predicted against verified entities with the rule in the module docstring."""
    if not 0.0 <= min_pair_score <= 1.0:
        raise ValueError(f"min_pair_score must be in [0, 1], got {min_pair_score}")
    by_label_p: dict[str, list[Entity]] = defaultdict(list)
    by_label_v: dict[str, list[Entity]] = defaultdict(list)
    for e in predicted:
        by_label_p[e.label].append(e)
    for e in verified:
        by_label_v[e.label].append(e)

    counts: dict[str, dict[str, int]] = {}
    records: list[EntityOutcome] = []
    for label in sorted(set(by_label_p) | set(by_label_v)):
        c = counts.setdefault(label, _empty_counts())
        preds, vers = by_label_p.get(label, []), by_label_v.get(label, [])

        open_verified: dict[tuple[int, str], list[int]] = defaultdict(list)
        for j, v in enumerate(vers):
            open_verified[(v.page, normalize_text(v.text))].append(j)
        used_v: set[int] = set()
        rest_p: list[int] = []
        for i, p in enumerate(preds):
            bucket = open_verified.get((p.page, normalize_text(p.text)))
            if bucket:
                j = bucket.pop(0)
                used_v.add(j)
                c[FieldOutcome.UNCHANGED] += 1
                records.append(EntityOutcome(label, FieldOutcome.UNCHANGED, p, vers[j], 1.0))
            else:
                rest_p.append(i)
        rest_v = [j for j in range(len(vers)) if j not in used_v]

        candidates = sorted(
            ((-_pair_score(preds[i], vers[j]), i, j) for i in rest_p for j in rest_v),
        )
        paired_p: set[int] = set()
        paired_v: set[int] = set()
        for neg_score, i, j in candidates:
            if i in paired_p or j in paired_v or -neg_score < min_pair_score:
                continue
            paired_p.add(i)
            paired_v.add(j)
            c[FieldOutcome.MODIFIED] += 1
            records.append(
                EntityOutcome(label, FieldOutcome.MODIFIED, preds[i], vers[j], -neg_score)
            )
        for i in rest_p:
            if i not in paired_p:
                c[FieldOutcome.REMOVED] += 1
                records.append(EntityOutcome(label, FieldOutcome.REMOVED, preds[i], None))
        for j in rest_v:
            if j not in paired_v:
                c[FieldOutcome.ADDED] += 1
                records.append(EntityOutcome(label, FieldOutcome.ADDED, None, vers[j]))
    return EntityDiff(counts=counts, records=records)

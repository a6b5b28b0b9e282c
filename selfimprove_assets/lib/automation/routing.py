"""Which fields of a prediction are auto-accepted, and whether the document needs a reviewer.

A field is auto-accepted when its version has a cut-off for it and its calibrated confidence is
at or above it. A document is straight-through when its type (if a classifier predicted it) and
every predicted field are accepted and no label required for its type (present in nearly all
of that type's training documents, ``fit.required_labels``) is missing. A version without
cut-offs (registered before them) accepts nothing, so its documents all need review.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DOC_TYPE = "doc_type"


@dataclass(frozen=True)
class Rules:
    """One version's straight-through rules, as stored in its spec."""

    cutoffs: Mapping[str, float] = field(default_factory=dict)
    required_labels: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Any) -> Rules:
        """The rules of a ``ModelSpec`` (an older spec without them: accepts nothing)."""
        if spec is None:
            return cls()
        return cls(
            cutoffs=dict(getattr(spec, "cutoffs", None) or {}),
            required_labels=dict(getattr(spec, "required_labels", None) or {}),
        )

    def accepts(self, name: str, confidence: float | None) -> bool:
        cut = self.cutoffs.get(name)
        return cut is not None and confidence is not None and confidence >= cut


@dataclass(frozen=True)
class Routing:
    auto_accepted: list[bool]  # per predicted entity, in order
    doc_type_accepted: bool | None  # None: no classifier predicted the type
    missing_required: list[str]
    needs_review: bool


def route(
    entities: Sequence[Mapping[str, Any]],
    *,
    doc_type: str | None,
    doc_type_confidence: float | None,
    classifier: Rules | None,
    extractor: Rules | None,
) -> Routing:
    """The routing of one prediction (entities as dicts with ``label`` and ``confidence``)."""
    accepted = [
        extractor is not None and extractor.accepts(str(e["label"]), e.get("confidence"))
        for e in entities
    ]
    type_ok: bool | None = None
    if classifier is not None:
        type_ok = classifier.accepts(DOC_TYPE, doc_type_confidence)
    missing: list[str] = []
    if extractor is not None:
        required = extractor.required_labels
        wanted = required.get(doc_type or "") if doc_type else None
        if wanted is None and len(required) == 1:  # one type: no classifier needed
            wanted = next(iter(required.values()))
        present = {str(e["label"]) for e in entities}
        missing = sorted(set(wanted or ()) - present)
    models_with_rules = [r for r in (classifier, extractor) if r is not None]
    needs = (
        not models_with_rules
        or any(not r.cutoffs for r in models_with_rules)
        or type_ok is False
        or not all(accepted)
        or bool(missing)
    )
    return Routing(accepted, type_ok, missing, needs)


def draw_qa(share: float, rng: random.Random | None = None) -> bool:
    """Whether a straight-through document goes to reviewers anyway (the QA sample)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"qa_share must be in [0, 1], got {share}")
    return (rng or random.SystemRandom()).random() < share

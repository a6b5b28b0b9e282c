"""What straight-through processing achieves: automation rates, the QA-measured accuracy of
auto-accepted fields, and a live accuracy that stays unbiased when most documents skip review.

Once most documents go straight through, the reviewed documents are no longer a random sample:
those that needed review are the doubtful ones. ``stratified_accuracy`` estimates the accuracy
over *all* documents from two strata, the documents reviewed because they needed it and the
QA sample of the straight-through ones, each weighted by its share of the traffic; the
variance is the stratified one, and the interval a normal one around it (clipped to [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm

from selfimprove_assets.lib.automation.routing import Routing
from selfimprove_assets.lib.monitor.stats import Interval, wilson_interval


@dataclass(frozen=True)
class AutomationRate:
    fields: float  # share of predicted fields auto-accepted
    documents: float  # share of documents straight through
    n_fields: int
    n_documents: int


def automation_rate(routings: Sequence[Routing]) -> AutomationRate:
    """Field and document automation over ``routings`` (a document type counts as a field)."""
    flags: list[bool] = []
    for r in routings:
        flags.extend(r.auto_accepted)
        if r.doc_type_accepted is not None:
            flags.append(r.doc_type_accepted)
    straight = sum(not r.needs_review for r in routings)
    return AutomationRate(
        fields=sum(flags) / len(flags) if flags else 0.0,
        documents=straight / len(routings) if routings else 0.0,
        n_fields=len(flags),
        n_documents=len(routings),
    )


@dataclass(frozen=True)
class Stratum:
    """Right and reviewed fields of one stratum, and how many documents of traffic it stands for."""

    right: int
    reviewed: int
    traffic: int


@dataclass(frozen=True)
class StratifiedEstimate:
    accuracy: float | None
    interval: Interval
    n: int


def qa_accuracy(right: int, reviewed: int, confidence: float = 0.95) -> StratifiedEstimate:
    """Accuracy of auto-accepted fields measured on the QA sample, with its Wilson interval."""
    return StratifiedEstimate(
        right / reviewed if reviewed else None,
        wilson_interval(right, reviewed, confidence),
        reviewed,
    )


def stratified_accuracy(strata: Sequence[Stratum], confidence: float = 0.95) -> StratifiedEstimate:
    """Accuracy over all traffic: each stratum's reviewed accuracy weighted by its traffic share.

    A stratum with traffic but no reviewed field leaves the estimate undefined (None): the
    accuracy of documents nobody looked at is not assumed."""
    traffic = sum(s.traffic for s in strata)
    n = sum(s.reviewed for s in strata)
    if traffic == 0 or any(s.traffic and not s.reviewed for s in strata):
        return StratifiedEstimate(None, Interval(0.0, 1.0), n)
    estimate, variance = 0.0, 0.0
    for s in strata:
        if not s.traffic:
            continue
        w = s.traffic / traffic
        p = s.right / s.reviewed
        # Wilson-style shrinkage keeps a 100% stratum from claiming zero variance
        p_var = (s.right + 1) / (s.reviewed + 2)
        estimate += w * p
        variance += w * w * p_var * (1 - p_var) / s.reviewed
    half = float(norm.ppf(1 - (1 - confidence) / 2)) * math.sqrt(variance)
    return StratifiedEstimate(
        estimate, Interval(max(0.0, estimate - half), min(1.0, estimate + half)), n
    )

"""How many reviewed documents a retrain needs before the gauntlet can decide.

Detection is cheap: a field thirty points below its threshold is certainly below after a few
dozen commits. Judging the candidate is not: the production slice it is judged on is a share
of the reviewed documents (curation's ``holdout_fraction``), and a paired test on a dozen
documents cannot show a real gain, so a retrain started on detection alone ends rejected for
want of evidence. The sensor therefore waits until the slice can detect the gain that matters.

The gain that matters is the gap between the live figure ``p0`` of the fields that fell below
(pooled over their observations) and their target ``p1`` (the thresholds, weighted by the
fields' observations): a candidate that reaches the target must show it. The observations a
one-sided test at level ``alpha`` needs to detect ``p0 -> p1`` with power ``1 - beta`` are, for
two proportions (Fleiss, Levin & Paik 2003, without continuity correction)::

    n = ( z_{1-alpha} * sqrt(2 * pbar * (1 - pbar))
          + z_{1-beta} * sqrt(p0 * (1 - p0) + p1 * (1 - p1)) )^2 / (p1 - p0)^2,
    pbar = (p0 + p1) / 2.

The gauntlet's tests are paired (McNemar, paired bootstrap), which need no more observations
than the unpaired test when the two models agree on most documents, so ``n`` is a
conservative bound. Observations are documents for a document-level kind and the failing
fields' entities for an entity-level one; entities per document are the live ratio. The slice
needs ``max(min_slice_documents, ceil(n / per_document))`` documents, hence
``ceil(slice / slice_share)`` reviewed documents in all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import norm


@dataclass(frozen=True)
class GauntletPower:
    """The evidence rule: the policy's ``alpha``, the slice test's ``power``, the slice's share
    of the reviewed documents and its minimum size (``[monitor]`` and ``[promotion]`` alpha)."""

    alpha: float = 0.05
    power: float = 0.8
    slice_share: float = 0.2
    min_slice_documents: int = 20

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not 0.5 <= self.power < 1.0:
            raise ValueError(f"power must be in [0.5, 1), got {self.power}")
        if not 0.0 < self.slice_share < 1.0:
            raise ValueError(f"slice_share must be in (0, 1), got {self.slice_share}")
        if self.min_slice_documents < 0:
            raise ValueError(f"min_slice_documents must be >= 0, got {self.min_slice_documents}")


def observations_to_detect(p0: float, p1: float, alpha: float, power: float) -> int:
    """Observations a one-sided two-proportion test at ``alpha`` needs to show ``p0 -> p1``
    (``p1 > p0``) with ``power`` (the module docstring's formula, rounded up)."""
    if not 0.0 <= p0 < p1 <= 1.0:
        raise ValueError(f"need 0 <= p0 < p1 <= 1, got p0={p0}, p1={p1}")
    z_a, z_b = float(norm.ppf(1 - alpha)), float(norm.ppf(power))
    pbar = (p0 + p1) / 2
    root = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    return max(1, math.ceil(root * root / (p1 - p0) ** 2 - 1e-9))


@dataclass(frozen=True)
class Evidence:
    """What the gauntlet needs and what there is: the figures behind a trigger's wait."""

    live: float  # p0: the failing fields' pooled live accuracy
    target: float  # p1: their threshold, weighted by their observations
    observations: int  # observations the slice must hold (documents or entities)
    per_document: float  # observations per reviewed document
    slice_documents: int  # documents the production slice must hold
    needed_documents: int  # reviewed documents for that slice
    reviewed_documents: int  # reviewed documents there are
    alpha: float
    power: float
    slice_share: float

    @property
    def missing(self) -> int:
        return max(0, self.needed_documents - self.reviewed_documents)

    @property
    def enough(self) -> bool:
        return self.missing == 0

    def describe(self, unit: str) -> str:
        """The rule with its figures, for a skip or trigger reason."""
        return (
            f"a production slice of {self.slice_documents} documents ({self.slice_share:.0%} "
            f"of {self.needed_documents} reviewed) holds at least the {self.observations} "
            f"{unit} a one-sided test at alpha {self.alpha:g} needs to detect "
            f"{self.live:.3f} -> {self.target:.3f} with power {self.power:g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"missing": self.missing, "enough": self.enough}


def gauntlet_evidence(
    rule: GauntletPower, correct: int, n: int, target: float, reviewed_documents: int
) -> Evidence:
    """The evidence the failing fields need: ``correct`` of ``n`` observations right live,
    ``target`` their threshold, over ``reviewed_documents`` committed documents."""
    if not 0 <= correct < n or reviewed_documents < 1:
        raise ValueError(
            f"need 0 <= correct < n and reviewed documents >= 1, got correct={correct}, n={n}, "
            f"reviewed={reviewed_documents}"
        )
    live = correct / n
    target = min(1.0, max(target, live + 1e-6))
    needed = observations_to_detect(live, target, rule.alpha, rule.power)
    per_document = n / reviewed_documents
    slice_documents = max(rule.min_slice_documents, math.ceil(needed / per_document - 1e-9))
    return Evidence(
        live=live,
        target=target,
        observations=needed,
        per_document=per_document,
        slice_documents=slice_documents,
        needed_documents=math.ceil(slice_documents / rule.slice_share - 1e-9),
        reviewed_documents=reviewed_documents,
        alpha=rule.alpha,
        power=rule.power,
        slice_share=rule.slice_share,
    )

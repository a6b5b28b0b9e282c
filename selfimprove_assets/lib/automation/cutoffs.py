"""Per-field confidence cut-offs that guarantee a target accuracy by a one-sided lower bound.

A field's cut-off is the lowest calibrated confidence such that the held-out predictions at or
above it are right often enough that the one-sided Clopper-Pearson lower bound of their accuracy
(at ``confidence``, 95% by default) is at least the target. The bound is exact for a binomial
proportion, never above the observed rate, and needs ``min_error_free(target)`` error-free
accepted predictions at the least (149 for 0.98 at 95%): a field with less evidence has no
cut-off and accepts nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import beta

from selfimprove_assets.lib.automation.calibration import Scored


def clopper_pearson_lower(successes: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact lower bound of a binomial proportion (0 with no successes)."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if successes == 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, successes, n - successes + 1))


def min_error_free(target: float, confidence: float = 0.95) -> int:
    """Fewest accepted predictions, all right, whose lower bound reaches ``target``."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    return math.ceil(math.log(1.0 - confidence) / math.log(target))


def choose_cutoff(
    scored: Sequence[Scored], target: float, confidence: float = 0.95
) -> float | None:
    """The lowest calibrated confidence whose accepted set's lower bound reaches ``target``;
    None when no cut-off does (too little evidence or too many errors)."""
    ranked = sorted(scored, key=lambda s: -s.confidence)
    best: float | None = None
    right = 0
    for i, item in enumerate(ranked):
        right += int(item.correct)
        # a cut-off sits between distinct confidences: all equal ones are accepted together
        if i + 1 < len(ranked) and ranked[i + 1].confidence == item.confidence:
            continue
        if i + 1 >= min_error_free(target, confidence) and (
            clopper_pearson_lower(right, i + 1, confidence) >= target
        ):
            best = item.confidence
    return best


def choose_cutoffs(
    scored: Sequence[Scored], target: float, confidence: float = 0.95
) -> dict[str, float]:
    """Cut-offs by field; a field without one is left out (it accepts nothing)."""
    out: dict[str, float] = {}
    for name in sorted({s.field for s in scored}):
        cut = choose_cutoff([s for s in scored if s.field == name], target, confidence)
        if cut is not None:
            out[name] = cut
    return out

"""Confidence bounds for live accuracy, and the rule that decides "below threshold".

Why Wilson. Live accuracy is a binomial proportion observed on few commits (tens, not
thousands) and sits close to 1.0 for a healthy model. The textbook Wald interval
``p ± z·sqrt(p(1-p)/n)`` collapses to a zero-width interval at 10/10 and undercovers badly
at small ``n`` and near the boundary; Wilson's score interval keeps close to nominal coverage
there (Brown, Cai & DasGupta 2001; Newcombe 1998), never leaves [0, 1], and is closed-form,
so a sensor tick stays cheap.

Why the check is conservative. The monitor re-tests the running accuracy after every commit.
Each test at level ``alpha`` has its own chance of a false alarm, and testing a growing
sample repeatedly inflates the overall false-alarm probability well above ``alpha`` (the
"optional stopping" problem). A false alarm here costs a training run and a reviewer's
attention, so the rule is: a field is *statistically below* its threshold only when

* it has at least ``min_samples`` observations (tiny samples never trigger), and
* the **one-sided** upper Wilson bound at a conservative confidence (99% by default for the
  repeated check) is still under the threshold — i.e. even the optimistic reading of the
  data says the model is worse than required.

We chose this over a sequential probability ratio test because it needs no second
"alternative" accuracy to be configured, its output (a bound next to the threshold) is easy to
show in the UI, and it works from the counters the store already keeps. Measured by simulation
(1,000-2,000 streams of 300 commits, checked after every commit, true accuracy *exactly at*
the threshold 0.90 or 0.95 — the worst case): the two-sided 95% check without a minimum alarms in
29-37% of streams, the one-sided 99% check with 30 samples minimum in 10-11%; a model ten
points below the threshold is still caught in over 99% of streams, five points below in
80-94%. Thresholds are re-based a margin (0.03) below the measured accuracy (see
``promotion.policy.rebase_thresholds``); a model still at its baseline then alarms in under 1%
of streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

DEFAULT_CONFIDENCE = 0.95
REPEATED_CHECK_CONFIDENCE = 0.99
DEFAULT_MIN_SAMPLES = 30


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper


def _check(successes: int, n: int, confidence: float) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def no_data_interval() -> Interval:
    """With zero samples nothing is known: the honest interval is all of [0, 1]."""
    return Interval(0.0, 1.0)


def _wilson(successes: int, n: int, z: float) -> Interval:
    if n == 0:
        return no_data_interval()
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(lower, upper)


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Two-sided Wilson score interval for ``successes / n`` at ``confidence``."""
    _check(successes, n, confidence)
    return _wilson(successes, n, float(norm.ppf(1 - (1 - confidence) / 2)))


def wilson_upper_bound(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """One-sided upper Wilson bound: the true proportion is below it with ``confidence``."""
    _check(successes, n, confidence)
    return _wilson(successes, n, float(norm.ppf(confidence))).upper


def wilson_lower_bound(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """One-sided lower Wilson bound: the true proportion is above it with ``confidence``."""
    _check(successes, n, confidence)
    return _wilson(successes, n, float(norm.ppf(confidence))).lower


def is_statistically_below(
    successes: int,
    n: int,
    threshold: float,
    confidence: float = REPEATED_CHECK_CONFIDENCE,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> bool:
    """True when at least ``min_samples`` were seen and the one-sided upper bound < threshold."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    _check(successes, n, confidence)
    if n < max(1, min_samples):
        return False
    return wilson_upper_bound(successes, n, confidence) < threshold

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfimprove_assets.lib.monitor.stats import (
    is_statistically_below,
    no_data_interval,
    wilson_interval,
    wilson_lower_bound,
    wilson_upper_bound,
)


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0000),
    ],
)
def test_wilson_matches_published_values(
    successes: int, n: int, lower: float, upper: float
) -> None:
    ci = wilson_interval(successes, n, 0.95)
    assert ci.lower == pytest.approx(lower, abs=5e-5)
    assert ci.upper == pytest.approx(upper, abs=5e-5)


def test_zero_samples_know_nothing() -> None:
    assert wilson_interval(0, 0) == no_data_interval()
    assert wilson_upper_bound(0, 0) == 1.0
    assert not is_statistically_below(0, 0, 0.9, min_samples=0)


def test_one_sided_bound_is_the_two_sided_bound_at_twice_the_tail() -> None:
    assert wilson_upper_bound(40, 50, 0.95) == pytest.approx(wilson_interval(40, 50, 0.90).upper)
    assert wilson_lower_bound(40, 50, 0.95) == pytest.approx(wilson_interval(40, 50, 0.90).lower)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 3, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        is_statistically_below(1, 3, 1.5)


@given(st.integers(0, 500), st.integers(1, 500), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_interval_contains_estimate_and_stays_in_unit_range(k: int, n: int, conf: float) -> None:
    k = min(k, n)
    ci = wilson_interval(k, n, conf)
    assert 0.0 <= ci.lower <= k / n <= ci.upper <= 1.0


def test_below_rule() -> None:
    assert is_statistically_below(60, 100, 0.9)  # clearly below
    assert not is_statistically_below(9, 10, 0.92, min_samples=5)  # noisily below
    assert not is_statistically_below(5, 20, 0.9, min_samples=30)  # too few samples
    assert not is_statistically_below(95, 100, 0.9)  # above


def _repeated_check_alarm_rate(
    p_true: float, threshold: float, confidence: float, min_n: int, streams: int = 2000
) -> float:
    """Share of simulated commit streams (300 commits, checked after every commit) that alarm."""
    horizon = 300
    # Largest success count that still counts as "below" for each n (-1: none).
    critical = np.full(horizon + 1, -1)
    for n in range(max(1, min_n), horizon + 1):
        k = int(threshold * n)
        while k >= 0 and not is_statistically_below(k, n, threshold, confidence, min_n):
            k -= 1
        critical[n] = k
    rng = np.random.default_rng(7)
    successes = np.cumsum(rng.random((streams, horizon)) < p_true, axis=1)
    alarms = successes <= critical[1:][None, :]
    return float(alarms.any(axis=1).mean())


def test_repeated_checks_keep_false_alarms_low_and_still_catch_real_drops() -> None:
    conservative = _repeated_check_alarm_rate(0.9, 0.9, 0.99, 30)
    naive = _repeated_check_alarm_rate(0.9, 0.9, 0.95, 1)
    assert conservative < 0.15
    assert naive > 2 * conservative
    assert _repeated_check_alarm_rate(0.8, 0.9, 0.99, 30) > 0.99

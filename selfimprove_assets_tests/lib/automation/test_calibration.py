"""Calibrated confidence and cut-offs at a target accuracy, on held-out data."""

from __future__ import annotations

import random

import pytest

from selfimprove_assets.lib.automation.calibration import (
    POOLED,
    Calibrator,
    Scored,
    entity_outcomes,
    expected_calibration_error,
    fit_calibrator,
)
from selfimprove_assets.lib.automation.cutoffs import (
    choose_cutoff,
    choose_cutoffs,
    clopper_pearson_lower,
    min_error_free,
)
from selfimprove_assets.lib.types import Entity

TARGET = 0.98


def _overconfident(n: int, seed: int, label: str = "total") -> list[Scored]:
    """A model that always says 0.9-1.0 but is right with chance 12*(c-0.9) (0 to 100%)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c = rng.uniform(0.9, 1.0)
        out.append(Scored(label, c, rng.random() < min(1.0, (c - 0.9) * 12)))
    return out


def _accuracy(items: list[Scored]) -> float:
    return sum(s.correct for s in items) / len(items)


def test_calibration_makes_an_overconfident_models_accepted_accuracy_meet_the_target() -> None:
    calibration, held_out = _overconfident(6000, seed=1), _overconfident(6000, seed=2)
    # the raw confidence lies: what claims at least 95% is right far less often
    naive = [s for s in held_out if s.confidence >= 0.95]
    assert _accuracy(naive) < 0.9
    calibrator = fit_calibrator(calibration, min_label_examples=50)
    cut = choose_cutoff(calibrator.calibrate(calibration), TARGET)
    assert cut is not None
    accepted = [s for s in calibrator.calibrate(held_out) if s.confidence >= cut]
    assert len(accepted) > 100
    assert _accuracy(accepted) >= TARGET
    assert expected_calibration_error(calibrator.calibrate(held_out)) < 0.05
    assert expected_calibration_error(held_out) > 0.2


def test_a_label_with_few_examples_uses_the_pooled_map() -> None:
    scored = _overconfident(600, seed=3, label="a") + _overconfident(10, seed=4, label="b")
    calibrator = fit_calibrator(scored, min_label_examples=50)
    assert set(calibrator.maps) == {POOLED, "a"}
    assert calibrator.apply("b", 0.97) == calibrator.apply(POOLED, 0.97)
    again = Calibrator.from_dict(calibrator.to_dict())
    assert again is not None and again.apply("a", 0.99) == calibrator.apply("a", 0.99)


def test_a_field_with_too_few_examples_accepts_nothing() -> None:
    assert min_error_free(0.98) == 149
    assert clopper_pearson_lower(149, 149) >= 0.98 > clopper_pearson_lower(148, 148)
    few = [Scored("date", 0.999, True) for _ in range(148)]
    assert choose_cutoff(few, TARGET) is None
    enough = [Scored("date", 0.999, True) for _ in range(149)]
    assert choose_cutoff(enough, TARGET) == 0.999
    assert choose_cutoffs(few + [Scored("x", 0.5, True)], TARGET) == {}


def test_the_cutoff_is_the_lowest_that_keeps_the_bound() -> None:
    # 300 right at high confidence, then a tail of errors at lower confidence
    scored = [Scored("f", 0.9 + i / 10_000, True) for i in range(300)]
    scored += [Scored("f", 0.5 + i / 1000, i % 2 == 0) for i in range(100)]
    cut = choose_cutoff(scored, TARGET)
    assert cut is not None and cut < 0.9  # the clean block and the start of the tail
    accepted = [s for s in scored if s.confidence >= cut]
    right = sum(s.correct for s in accepted)
    assert clopper_pearson_lower(right, len(accepted)) >= TARGET


def test_entity_outcomes_follow_the_scorers_rule() -> None:
    truth = [Entity("total", "12.50", 0), Entity("date", "1 May", 0)]
    predicted = [
        Entity("total", "12.50 ", 0, confidence=0.9),  # normalized text matches
        Entity("total", "12.50", 0, confidence=0.8),  # the labeled one is already matched
        Entity("date", "1 May", 1, confidence=0.7),  # wrong page
    ]
    assert [s.correct for s in entity_outcomes(truth, predicted)] == [True, False, False]


def test_clopper_pearson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        clopper_pearson_lower(5, 4)

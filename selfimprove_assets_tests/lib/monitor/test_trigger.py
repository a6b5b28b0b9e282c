from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from selfimprove_assets.lib.monitor.power import GauntletPower, observations_to_detect
from selfimprove_assets.lib.monitor.trigger import FieldFigure, evaluate_trigger, field_metrics
from selfimprove_assets.lib.types import RetrainState


def _classifier(correct: int, n: int, state: str = "IDLE", min_commits: int = 30, **kw):
    return evaluate_trigger(
        "classifier",
        state,
        {"doc_type": FieldFigure(committed=n, corrected=n - correct)},
        {"doc_type": kw.pop("threshold", 0.9)},
        commits_since_deploy=n,
        min_commits=min_commits,
        **kw,
    )


def test_triggers_when_clearly_below() -> None:
    decision = _classifier(60, 100)
    assert decision.trigger
    assert decision.below_fields == ["doc_type"]
    below = decision.below[0]
    assert below.value == pytest.approx(0.6) and below.n == 100 and below.upper < 0.9
    assert "doc_type" in decision.reason


def test_no_trigger_below_minimum_commits() -> None:
    decision = _classifier(0, 10, min_commits=30)
    assert not decision.trigger
    assert "need 30" in decision.reason


@pytest.mark.parametrize("state", [RetrainState.TRIGGERED, RetrainState.INPROGRESS])
def test_no_trigger_while_a_retrain_runs(state: RetrainState) -> None:
    decision = _classifier(10, 100, state=state)
    assert not decision.trigger
    assert state.value in decision.reason


def test_waits_for_enough_corrections_to_learn_from() -> None:
    # 70/100 right: certainly below 0.9, with 30 corrections
    waiting = _classifier(70, 100, min_corrections=31)
    assert not waiting.trigger and waiting.below_fields == ["doc_type"]
    assert "waiting for corrections" in waiting.reason and "30 corrected" in waiting.reason
    assert _classifier(70, 100, min_corrections=30).trigger
    assert _classifier(70, 100, min_corrections=30).below[0].errors == 30
    with pytest.raises(ValueError, match="min_corrections"):
        _classifier(70, 100, min_corrections=-1)


def test_no_trigger_when_only_noisily_below() -> None:
    decision = _classifier(9, 10, min_commits=5, threshold=0.92)
    assert not decision.trigger
    assert decision.watch == ["doc_type"]
    assert "point estimate" in decision.reason


def test_extractor_triggers_only_on_the_failing_label_with_enough_samples() -> None:
    figures = {
        "total": FieldFigure(80, 40, unchanged=40, modified=25, added=10, removed=5),
        "name": FieldFigure(80, 2, unchanged=78, modified=2),
        "rare": FieldFigure(5, 5, unchanged=0, modified=5),  # awful but n=5
    }
    decision = evaluate_trigger(
        "extractor", "COMPLETED", figures, {"*": 0.9}, commits_since_deploy=80, min_commits=30
    )
    assert decision.trigger
    assert decision.below_fields == ["total"]
    assert "rare" in decision.watch
    assert set(decision.fields["total"]) == {"accuracy", "precision", "recall", "f1"}
    assert decision.to_dict()["below"][0]["field"] == "total"


def test_field_metrics_formulas() -> None:
    m = field_metrics(FieldFigure(0, 0, unchanged=6, modified=2, added=1, removed=1))
    assert m["accuracy"].value == pytest.approx(0.6) and m["accuracy"].n == 10
    assert m["precision"].value == pytest.approx(6 / 9)
    assert m["recall"].value == pytest.approx(6 / 9)
    assert m["f1"].value == pytest.approx(2 * 6 / (2 * 6 + 3 + 3))
    for est in m.values():
        assert est.value is not None
        assert est.lower <= est.value <= est.upper
    assert field_metrics(FieldFigure(10, 3))["accuracy"].value == pytest.approx(0.7)
    empty = field_metrics(FieldFigure(0, 0))["accuracy"]
    assert empty.value is None and (empty.lower, empty.upper) == (0.0, 1.0)


def test_bad_figures_are_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        FieldFigure(committed=3, corrected=4)
    with pytest.raises(ValueError, match="classifier figures"):
        evaluate_trigger("classifier", "IDLE", {"x": FieldFigure(1, 0)}, {}, 1, 0)


def test_the_slice_size_gives_the_power_it_promises() -> None:
    """The one-sided two-proportion z-test on n per side, simulated: power ~0.8 at the n the
    formula gives, and clearly less at half of it."""
    n = observations_to_detect(0.5, 0.6, alpha=0.05, power=0.8)
    assert n == 305
    rng = np.random.default_rng(0)

    def power(k: int) -> float:
        a, b = rng.binomial(k, 0.5, 20000) / k, rng.binomial(k, 0.6, 20000) / k
        pooled = (a + b) / 2
        z = (b - a) / np.sqrt(2 * pooled * (1 - pooled) / k)
        return float(np.mean(z > norm.ppf(0.95)))

    assert power(n) == pytest.approx(0.8, abs=0.02)
    assert power(n // 2) < 0.6
    assert observations_to_detect(0.3, 0.5, 0.05, 0.8) < n  # a wider gap needs fewer
    with pytest.raises(ValueError, match="p0 < p1"):
        observations_to_detect(0.6, 0.5, 0.05, 0.8)


def test_a_trigger_waits_until_the_gauntlet_can_decide_and_says_for_what() -> None:
    rule = GauntletPower(alpha=0.05, power=0.8, slice_share=0.2, min_slice_documents=20)
    waiting = _classifier(20, 40, gauntlet=rule)  # 0.5 against 0.9: certainly below
    assert not waiting.trigger and waiting.below_fields == ["doc_type"]
    assert waiting.evidence is not None and waiting.evidence.missing == 60
    assert waiting.reason.startswith(
        "waiting for evidence: 60 more reviewed documents so that the gauntlet can decide"
    )
    assert "alpha 0.05" in waiting.reason and "power 0.8" in waiting.reason
    assert waiting.to_dict()["evidence"]["needed_documents"] == 100
    ready = _classifier(50, 100, gauntlet=rule)
    assert ready.trigger and "the gauntlet can decide" in ready.reason
    # without a minimum the power alone sets the slice: 16 documents for 0.5 -> 0.9
    small = GauntletPower(slice_share=0.5, min_slice_documents=0)
    assert _classifier(20, 40, gauntlet=small).trigger
    # detection alone (no rule) triggers as before
    assert _classifier(20, 40).trigger


def test_an_extractor_slice_counts_the_failing_fields_entities_per_document() -> None:
    # 40 documents, 2 entities of the failing label each: 0.25 live against 0.5
    figures = {"name": FieldFigure(40, 30, unchanged=20, modified=60)}
    rule = GauntletPower(min_slice_documents=0)
    decision = evaluate_trigger("extractor", "IDLE", figures, {"*": 0.5}, 40, 30, gauntlet=rule)
    evidence = decision.evidence
    assert evidence is not None and evidence.per_document == pytest.approx(2.0)
    needed = observations_to_detect(0.25, 0.5, 0.05, 0.8)
    assert evidence.slice_documents == -(-needed // 2)
    assert f"{needed} entities" in decision.reason

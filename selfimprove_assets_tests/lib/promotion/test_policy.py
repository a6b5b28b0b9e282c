from __future__ import annotations

import numpy as np
import pytest

from selfimprove_assets.lib.evaluation.compare import (
    ClassificationRecord,
    ComparisonReport,
    ExtractionRecord,
    compare_classification,
    compare_extraction,
)
from selfimprove_assets.lib.promotion import (
    PolicyError,
    PromotionPolicy,
    decide,
    rebase_thresholds,
)


def _classifier_report(
    n: int, default_right: int, candidate_right: int, dataset: str
) -> ComparisonReport:
    """Documents 0..n-1 with gold 'a'/'b'; each model is right on its first k documents."""
    records = [
        ClassificationRecord(
            f"{dataset}-{i}",
            "a" if i % 2 else "b",
            ("a" if i % 2 else "b") if i < default_right else "x",
            ("a" if i % 2 else "b") if i < candidate_right else "x",
        )
        for i in range(n)
    ]
    return compare_classification(records, dataset=dataset, n_boot=500)


def test_clear_improvement_is_promoted_with_every_reason_listed() -> None:
    golden = _classifier_report(200, 170, 176, "golden")
    production = _classifier_report(100, 60, 85, "production")
    decision = decide(PromotionPolicy(), golden, production, ["doc_type"])
    assert decision.promote, decision.reasons
    assert not decision.failed
    assert any(r.startswith("PASS overall accuracy") for r in decision.reasons)
    assert any(r.startswith("PASS improvement on 'doc_type'") for r in decision.reasons)


def test_golden_regression_is_rejected_even_with_a_production_gain() -> None:
    golden = _classifier_report(200, 180, 170, "golden")  # -0.05 on the golden set
    production = _classifier_report(100, 60, 85, "production")
    decision = decide(PromotionPolicy(), golden, production, ["doc_type"])
    assert not decision.promote
    assert len(decision.failed) == 1 and decision.failed[0].startswith("FAIL overall accuracy")
    assert "-0.050" in decision.failed[0]
    assert any(r.startswith("PASS improvement") for r in decision.reasons)


def test_insignificant_improvement_is_rejected() -> None:
    golden = _classifier_report(200, 170, 170, "golden")
    production = _classifier_report(30, 25, 26, "production")
    decision = decide(PromotionPolicy(), golden, production, ["doc_type"])
    assert not decision.promote
    assert "p=" in decision.failed[0] and "alpha 0.05" in decision.failed[0]


def _extraction_report(p_name: tuple[float, float], p_total: tuple[float, float], seed: int):
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(150):
        d, c = {}, {}
        for label, (pd_, pc_) in (("name", p_name), ("total", p_total)):
            td, tc = int(rng.random() < pd_), int(rng.random() < pc_)
            d[label], c[label] = (td, 0, 1 - td), (tc, 0, 1 - tc)
        recs.append(ExtractionRecord(str(i), d, c))
    return compare_extraction(recs, n_boot=500, seed=seed)


def test_extractor_critical_label_regression_and_trigger_fields() -> None:
    golden = _extraction_report((0.95, 0.95), (0.9, 0.8), seed=1)  # total regresses on golden
    production = _extraction_report((0.6, 0.9), (0.9, 0.9), seed=2)
    policy = PromotionPolicy.from_dict(
        {"golden_tolerance": 0.2, "critical": {"total": 0.02}, "alpha": 0.05}
    )
    decision = decide(policy, golden, production, ["name"])
    assert not decision.promote
    assert [r.split(":")[0] for r in decision.failed] == ["FAIL critical 'total'"]
    assert any(r.startswith("PASS improvement on 'name'") for r in decision.reasons)
    relaxed = PromotionPolicy.from_dict({"golden_tolerance": 0.2, "critical": {"total": 0.2}})
    assert decide(relaxed, golden, production, ["name"]).promote


def test_unmeasured_fields_fail_and_policy_validation() -> None:
    golden = _classifier_report(100, 80, 85, "golden")
    policy = PromotionPolicy(critical={"c": 0.0}, require_significant_improvement_on=["z"])
    decision = decide(policy, golden, None, ["doc_type"])
    assert not decision.promote
    assert any("critical 'c': not measured" in r for r in decision.failed)
    assert any("improvement on 'z': not measured" in r for r in decision.failed)
    with pytest.raises(PolicyError, match="unknown promotion policy keys"):
        PromotionPolicy.from_dict({"alpah": 0.1})
    with pytest.raises(PolicyError, match="alpha"):
        PromotionPolicy.from_dict({"alpha": 2})
    policy = PromotionPolicy.from_dict({"require_significant_improvement_on": "trigger fields"})
    assert policy.require_significant_improvement_on == ["trigger fields"]
    assert PromotionPolicy.from_dict(policy.to_dict()) == policy


def test_rebase_thresholds() -> None:
    out = rebase_thresholds({"doc_type": 0.95, "weak": 0.4, "perfect": 1.0, "mid": 0.8})
    assert out == pytest.approx({"doc_type": 0.92, "weak": 0.5, "perfect": 0.97, "mid": 0.77})
    assert rebase_thresholds({"perfect": 1.0}, margin=0.005) == {"perfect": 0.99}
    with pytest.raises(ValueError, match="floor"):
        rebase_thresholds({"x": 0.9}, floor=0.9, cap=0.8)
    with pytest.raises(ValueError, match="'x'"):
        rebase_thresholds({"x": 1.2})

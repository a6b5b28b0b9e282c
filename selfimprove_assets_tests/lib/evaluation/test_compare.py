from __future__ import annotations

import json

import numpy as np
import pytest

from selfimprove_assets.lib.evaluation.compare import (
    ClassificationRecord,
    Counts,
    ExtractionRecord,
    compare_classification,
    compare_extraction,
)


def _cls(gold: list[str], default: list[str], candidate: list[str]) -> list[ClassificationRecord]:
    return [
        ClassificationRecord(str(i), g, d, c)
        for i, (g, d, c) in enumerate(zip(gold, default, candidate, strict=True))
    ]


def test_classification_comparison_on_a_constructed_case() -> None:
    # 100 docs: default right on 70, candidate right on the same 70 plus 20 more.
    gold = ["a"] * 50 + ["b"] * 50
    default = gold[:70] + ["x"] * 30
    candidate = gold[:90] + ["x"] * 10
    report = compare_classification(_cls(gold, default, candidate), n_boot=1000)
    o = report.overall
    assert (o.default, o.candidate, o.delta) == pytest.approx((0.7, 0.9, 0.2))
    assert o.extra["only_candidate_correct"] == 20 and o.extra["only_default_correct"] == 0
    assert o.p_value is not None and o.p_value < 1e-5
    assert o.delta_ci[0] is not None and o.delta_ci[0] > 0.1
    assert o.default_ci[0] is not None and o.default_ci[1] is not None
    assert o.default_ci[0] < 0.7 < o.default_ci[1]
    # bootstrap interval close to the Wilson interval at n=100 (0.604, 0.781)
    assert o.default_ci == pytest.approx((0.61, 0.79), abs=0.03)
    assert report.fields["a"].delta == 0.0 and report.fields["b"].delta == pytest.approx(0.4)
    assert report.get("doc_type") is o
    json.dumps(report.to_dict(), allow_nan=False)
    md = report.to_markdown()
    assert "| doc_type | 100 | 0.700 | 0.900 | +0.200 |" in md and "| b | 50 |" in md


def test_identical_classifiers_show_no_difference() -> None:
    gold = ["a", "b", "c"] * 20
    pred = ["a", "b", "a"] * 20
    report = compare_classification(_cls(gold, pred, pred), n_boot=500)
    assert report.overall.delta == 0.0
    assert report.overall.delta_ci == (0.0, 0.0)
    assert report.overall.p_value == 1.0


def _ext(
    default: list[dict], candidate: list[dict], types: list[str] | None = None
) -> list[ExtractionRecord]:
    kinds: list[str | None] = list(types) if types else [None] * len(default)
    return [
        ExtractionRecord(str(i), d, c, t)
        for i, (d, c, t) in enumerate(zip(default, candidate, kinds, strict=True))
    ]


def test_extraction_micro_f1_and_breakdowns() -> None:
    default = [{"name": Counts(1, 1, 0), "total": (1, 0, 1)}] * 40
    candidate = [{"name": {"tp": 1, "fp": 0, "fn": 0}, "total": (2, 0, 0)}] * 40
    report = compare_extraction(_ext(default, candidate, ["inv", "let"] * 20), n_boot=500)
    o = report.overall
    # default: tp 2, fp 1, fn 1 per doc -> F1 = 4 / 6; candidate: tp 3 -> F1 = 1
    assert o.default == pytest.approx(4 / 6) and o.candidate == pytest.approx(1.0)
    assert o.n == 40 * 3  # gold entities: tp + fn
    assert o.extra["precision_default"] == pytest.approx(2 / 3)
    assert o.p_value is not None and o.p_value < 0.01
    assert report.fields["name"].default == pytest.approx(2 / 3)
    assert set(report.by_type) == {"inv", "let"}
    assert report.by_type["inv"].default == pytest.approx(4 / 6)
    json.dumps(report.to_dict(), allow_nan=False)
    assert "| micro |" in report.to_markdown() and "| name |" in report.to_markdown()


def _noisy_extraction(rng: np.random.Generator, n: int, p_d: float, p_c: float):
    recs = []
    for i in range(n):
        gold = int(rng.integers(1, 4))
        tp_d, tp_c = int(rng.binomial(gold, p_d)), int(rng.binomial(gold, p_c))
        fp_d, fp_c = int(rng.binomial(1, 0.2)), int(rng.binomial(1, 0.2))
        recs.append(
            ExtractionRecord(
                str(i), {"x": (tp_d, fp_d, gold - tp_d)}, {"x": (tp_c, fp_c, gold - tp_c)}
            )
        )
    return recs


def test_paired_bootstrap_level_and_power() -> None:
    rng = np.random.default_rng(1)
    null = [
        compare_extraction(_noisy_extraction(rng, 60, 0.8, 0.8), n_boot=400, seed=s).overall.p_value
        for s in range(80)
    ]
    assert np.mean([p is not None and p < 0.05 for p in null]) <= 0.12
    better = [
        compare_extraction(_noisy_extraction(rng, 60, 0.6, 0.9), n_boot=400, seed=s).overall.p_value
        for s in range(20)
    ]
    assert np.mean([p is not None and p < 0.05 for p in better]) >= 0.9
    worse = compare_extraction(_noisy_extraction(rng, 60, 0.9, 0.6), n_boot=400).overall
    assert worse.p_value is not None and worse.p_value > 0.5


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        compare_classification([])
    with pytest.raises(ValueError, match="unique"):
        compare_classification(_cls(["a", "a"], ["a", "a"], ["a", "a"]) * 2)
    with pytest.raises(ValueError, match="negative"):
        compare_extraction(_ext([{"x": (1, -1, 0)}], [{"x": (1, 0, 0)}]))


def test_groups_pool_labels_and_types_on_the_same_resamples() -> None:
    # extractor: label "a" 10 gold entities per side, "b" 10; pooled F1 from summed counts
    records = [
        ExtractionRecord(
            str(i),
            {"a": (1, 0, 0), "b": (0, 0, 1), "c": (1, 0, 0)},
            {"a": (1, 0, 0), "b": (1, 1, 0) if i < 5 else (0, 0, 1), "c": (0, 0, 1)},
        )
        for i in range(10)
    ]
    report = compare_extraction(
        records, n_boot=300, groups={"ab": ["a", "b", "missing"], "none": ["missing"], "one": ["b"]}
    )
    ab = report.groups["ab"]
    # default: tp 10, fp 0, fn 10 -> 2/3; candidate: tp 15, fp 5, fn 5 -> 0.75
    assert (ab.default, ab.candidate) == pytest.approx((20 / 30, 30 / 40))
    assert ab.n == 20 and ab.extra["members"] == ["a", "b"]
    assert "none" not in report.groups  # measures nothing
    one = report.groups["one"]
    assert (one.default, one.candidate, one.p_value) == (
        report.fields["b"].default,
        report.fields["b"].candidate,
        report.fields["b"].p_value,
    )
    assert report.get("ab") is ab and "| ab |" in report.to_markdown()
    assert json.loads(json.dumps(report.to_dict()))["groups"]["ab"]["n"] == 20
    with pytest.raises(ValueError, match="list of names"):
        compare_extraction(records, n_boot=300, groups={"ab": "a"})

    gold = ["a"] * 20 + ["b"] * 20 + ["c"] * 20
    default = gold[:50] + ["x"] * 10
    candidate = gold[:20] + ["x"] * 5 + gold[25:]
    cls = compare_classification(
        _cls(gold, default, candidate), n_boot=300, groups={"bc": ["b", "c"], "all": ["doc_type"]}
    )
    assert cls.groups["bc"].n == 40
    assert (cls.groups["bc"].default, cls.groups["bc"].candidate) == pytest.approx((0.75, 0.875))
    assert cls.groups["all"].default == cls.overall.default
    assert cls.groups["all"].p_value == cls.overall.p_value

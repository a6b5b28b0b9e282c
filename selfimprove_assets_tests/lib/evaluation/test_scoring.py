from __future__ import annotations

import pytest

from selfimprove_assets.lib.evaluation.scoring import (
    DocumentScore,
    ModelScore,
    compare_scores,
    learnt_something,
    trivial_headline,
)
from selfimprove_assets.lib.kinds import CLASSIFIER, EXTRACTOR
from selfimprove_assets.lib.metrics import classification_report, entity_report
from selfimprove_assets.lib.types import TrainingExample


def _examples(types: list[str]) -> list[TrainingExample]:
    return [
        TrainingExample(f"d{i}", t, ["a"], [(0, 0, 1, 1)], [0], ["O"]) for i, t in enumerate(types)
    ]


def test_a_model_must_beat_one_that_learnt_nothing() -> None:
    golden = _examples(["invoice"] * 6 + ["referral"] * 3 + ["lab_report"])
    assert trivial_headline("classifier", golden) == pytest.approx(0.6)
    assert trivial_headline("extractor", golden) == 0.0
    assert learnt_something("classifier", 0.9, golden) is None
    # a collapsed classifier answers one type: the majority share at best
    message = learnt_something("classifier", 0.6, golden)
    assert message is not None and "0.600" in message and "learnt nothing" in message
    # a collapsed extractor predicts only O: entity F1 0
    assert learnt_something("extractor", 0.0, golden) is not None
    assert learnt_something("extractor", 0.4, golden) is None


def _classifier_score(predicted: list[str]) -> ModelScore:
    gold = ["invoice"] * len(predicted)
    docs = [
        DocumentScore(f"d{i}", g, p) for i, (g, p) in enumerate(zip(gold, predicted, strict=True))
    ]
    report = classification_report(gold, predicted)
    return ModelScore("classifier", len(docs), report.accuracy, report, {}, docs)


def _extractor_score(tp: int) -> ModelScore:
    docs = [
        DocumentScore(f"d{i}", "invoice", per_label={"total": {"tp": tp, "fp": 0, "fn": 2 - tp}})
        for i in range(6)
    ]
    report = entity_report([], [])
    return ModelScore("extractor", len(docs), 0.0, report, {}, docs)


def test_each_kind_compares_with_its_own_paired_test() -> None:
    default = _classifier_score(["letter"] * 6)
    candidate = _classifier_score(["invoice"] * 6)
    report = compare_scores(CLASSIFIER, default, candidate, dataset="golden", n_boot=200)
    assert (report.model_type, report.metric, report.dataset) == (
        "classifier",
        "accuracy",
        "golden",
    )
    assert report.overall.default == 0.0 and report.overall.candidate == 1.0
    assert report.get("doc_type") is report.overall and "| type |" in report.to_markdown()

    report = compare_scores(
        EXTRACTOR, _extractor_score(1), _extractor_score(2), dataset="prod", n_boot=200
    )
    assert (report.model_type, report.metric) == ("extractor", "micro_f1")
    assert report.overall.candidate == 1.0 and "total" in report.fields
    assert report.get("doc_type") is None and "| label |" in report.to_markdown()

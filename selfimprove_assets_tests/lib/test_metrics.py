"""Metrics of selfimprove_assets.lib.metrics on hand-made cases."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.metrics import (
    classification_report,
    entity_report,
    flat_metrics,
    normalize_text,
    prf,
)
from selfimprove_assets.lib.types import Entity


def test_classification_report_per_type_and_support() -> None:
    report = classification_report(["a", "a", "b", "c"], ["a", "b", "b", None])
    assert report.accuracy == 0.5 and report.n == 4 and report.correct == 2
    a, b, c = report.per_type["a"], report.per_type["b"], report.per_type["c"]
    assert (a.precision, a.recall, a.support) == (1.0, 0.5, 2)
    assert a.f1 == pytest.approx(2 / 3)
    assert (b.precision, b.recall, b.support) == (0.5, 1.0, 1)
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 1)
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    with pytest.raises(ValueError, match="2 true labels but 1"):
        classification_report(["a", "b"], ["a"])


def test_entity_matching_by_label_normalized_text_and_page() -> None:
    truth = [
        [
            Entity("total", "12.50", 0),
            Entity("name", "Jane  Doe", 0),
            Entity("date", "2024-01-02", 1),
        ],
        [Entity("total", "7.00", 0)],
    ]
    pred = [
        [
            Entity("total", "12.50", 0),
            Entity("name", "jane doe", 0),
            Entity("date", "2024-01-02", 0),
        ],
        [Entity("total", "7.00", 0), Entity("total", "7.00", 0)],  # a duplicate matches once
    ]
    report = entity_report(truth, pred)
    assert report.micro.true_positives == 3
    assert report.micro.precision == pytest.approx(3 / 5)
    assert report.micro.recall == pytest.approx(3 / 4)
    assert report.micro.support == 4 and report.n_documents == 2
    total = report.per_label["total"]
    assert (total.precision, total.recall, total.support) == (pytest.approx(2 / 3), 1.0, 2)
    assert report.per_label["date"].f1 == 0.0  # wrong page
    assert report.per_label["name"].f1 == 1.0
    assert report.macro.f1 == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    flat = flat_metrics(report, prefix="val_")
    assert flat["val_micro_f1"] == pytest.approx(report.micro.f1)
    assert flat["val_support.total"] == 2.0


def test_edge_cases() -> None:
    assert prf(0, 0, 0).f1 == 0.0
    assert normalize_text("  ＡＢＣ\n def ") == "abc def"
    empty = entity_report([[]], [[]])
    assert empty.micro.f1 == 0.0 and empty.per_label == {}

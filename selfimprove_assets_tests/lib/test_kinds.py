"""The model kinds' registry: complete, and each kind's decisions."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from selfimprove_assets.lib.curation import (
    ClassifierCurationConfig,
    ExtractorCurationConfig,
    curate_classifier,
    curate_extractor,
)
from selfimprove_assets.lib.evaluation.scoring import DocumentScore, ModelScore
from selfimprove_assets.lib.feedback.live import field_summary
from selfimprove_assets.lib.kinds import (
    CLASSIFIER,
    EXTRACTOR,
    KINDS,
    ModelKind,
    document_type_kind,
    entity_level_types,
    full_finetune_types,
    kind_of,
)
from selfimprove_assets.lib.metrics import classification_report, entity_report
from selfimprove_assets.lib.models.needs import DataSummary, model_needed
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.monitor.trigger import FieldFigure, evaluate_trigger
from selfimprove_assets.lib.store.outcomes import compute_outcome
from selfimprove_assets.lib.types import MODEL_TYPES, ModelType
from selfimprove_assets_tests.lib.curation.conftest import feedback_frame
from selfimprove_assets_tests.lib.models.tiny_corpus import tagged_example


def test_every_model_type_has_exactly_one_kind() -> None:
    assert tuple(KINDS) == MODEL_TYPES
    assert {m.value for m in ModelType} == set(KINDS)
    for name, kind in KINDS.items():
        assert kind.name == name
        assert isinstance(kind, ModelKind)
    assert len({k.registry_name for k in KINDS.values()}) == len(KINDS)
    assert len({k.headline_key for k in KINDS.values()}) == len(KINDS)


def test_kind_of_accepts_names_enums_and_kinds_and_rejects_unknown_types() -> None:
    assert kind_of("classifier") is CLASSIFIER
    assert kind_of(ModelType.EXTRACTOR) is EXTRACTOR
    assert kind_of(EXTRACTOR) is EXTRACTOR
    with pytest.raises(ValueError, match="unknown model type 'table'.*classifier, extractor"):
        kind_of("table")


def test_the_kinds_facts() -> None:
    assert (CLASSIFIER.entity_level, EXTRACTOR.entity_level) == (False, True)
    assert (CLASSIFIER.head, EXTRACTOR.head) == ("sequence", "token")
    assert (CLASSIFIER.headline_key, EXTRACTOR.headline_key) == (
        "golden_accuracy",
        "golden_micro_f1",
    )
    assert CLASSIFIER.document_field == "doc_type" and EXTRACTOR.document_field is None
    assert full_finetune_types() == ["extractor"]
    assert entity_level_types() == ["extractor"]
    assert document_type_kind() is CLASSIFIER
    assert CLASSIFIER.calibrated and not EXTRACTOR.calibrated


def test_the_registry_imports_no_heavy_module() -> None:
    code = (
        "import sys, selfimprove_assets.lib.kinds; "
        "print(sorted(m for m in ('torch', 'pandas', 'numpy', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_need_follows_what_each_kind_learns() -> None:
    one_type = DataSummary(doc_types={"invoice": 4}, entity_labels={"total": 4})
    two_types = DataSummary(doc_types={"invoice": 4, "letter": 1})
    assert CLASSIFIER.not_needed(two_types) is None
    assert "has the type 'invoice'" in (CLASSIFIER.not_needed(one_type) or "")
    assert "no documents" in (CLASSIFIER.not_needed(DataSummary()) or "")
    assert EXTRACTOR.not_needed(one_type) is None
    assert EXTRACTOR.not_needed(DataSummary(labeled_entities=3)) is None  # labeled, unaligned
    assert "has a labeled entity: there is nothing" in (EXTRACTOR.not_needed(two_types) or "")
    assert CLASSIFIER.class_counts(one_type) == {"invoice": 4}
    assert EXTRACTOR.class_counts(one_type) == {"total": 4}


def test_reviews_count_only_for_the_kind_that_reads_them() -> None:
    class Store:
        def verified_doc_types(self) -> dict[str, int]:
            return {"invoice": 2, "letter": 1}

    assert CLASSIFIER.reviewed_doc_types(Store()) == {"invoice": 2, "letter": 1}
    assert EXTRACTOR.reviewed_doc_types(Store()) == {}


def test_trivial_headline_and_labels_from_examples() -> None:
    examples = [
        tagged_example("a", "invoice", ["B-total", "I-total", "O"]),
        tagged_example("b", "invoice", ["O", "B-date"]),
        tagged_example("c", "letter", ["O"]),
    ]
    assert CLASSIFIER.trivial_headline(examples) == pytest.approx(2 / 3)
    assert CLASSIFIER.trivial_headline([]) == 0.0
    assert EXTRACTOR.trivial_headline(examples) == 0.0
    assert CLASSIFIER.labels_from(examples) == ["invoice", "letter"]
    assert EXTRACTOR.labels_from(examples) == ["O", "B-date", "I-date", "B-total", "I-total"]


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
    report = CLASSIFIER.compare(default, candidate, dataset="golden", n_boot=200)
    assert (report.model_type, report.metric, report.dataset) == (
        "classifier",
        "accuracy",
        "golden",
    )
    assert report.overall.default == 0.0 and report.overall.candidate == 1.0
    assert report.get("doc_type") is report.overall and "| type |" in report.to_markdown()

    report = EXTRACTOR.compare(_extractor_score(1), _extractor_score(2), dataset="prod", n_boot=200)
    assert (report.model_type, report.metric) == ("extractor", "micro_f1")
    assert report.overall.candidate == 1.0 and "total" in report.fields
    assert report.get("doc_type") is None and "| label |" in report.to_markdown()


def test_each_kind_curates_with_its_own_config_and_sampler() -> None:
    knobs = {
        "bucket_rates": {"low": 1.0, "medium": 0.5, "high": 0.0},
        "focus_underperforming": False,
        "non_corrected_sample_ratio": 0.25,
        "replay_share": 0.1,
        "holdout_fraction": 0.2,
        "seed": 3,
        "exclude_suspicious": False,
    }
    cls_config = CLASSIFIER.curation_config(knobs)
    ext_config = EXTRACTOR.curation_config(knobs)
    assert isinstance(cls_config, ClassifierCurationConfig)
    assert isinstance(ext_config, ExtractorCurationConfig)
    assert cls_config.non_corrected_sample_ratio == 0.25 and cls_config.seed == 3
    assert ext_config.bucket_rates["high"] == 0.0 and not ext_config.focus_underperforming

    frame = feedback_frame(80, seed=4)
    assert CLASSIFIER.curate(frame, [], cls_config).train_ids == (
        curate_classifier(frame, cls_config).train_ids
    )
    assert EXTRACTOR.curate(frame, ["total"], ext_config).train_ids == (
        curate_extractor(frame, ["total"], ext_config).train_ids
    )
    with pytest.raises(TypeError, match="ExtractorCurationConfig"):
        EXTRACTOR.curate(frame, [], cls_config)


def test_a_third_entity_level_kind_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page-level table detector (entities labeled ``table``) registered as one kind, an
    entity-level kind like the extractor's: the code that asks the kind handles it without a
    change."""
    table = replace(
        EXTRACTOR,
        name="table",
        registry_name="table-detector",
        headline_label="table micro-F1",
        v1_full_finetune=False,
        not_needed_when="a corpus without labeled tables",
    )
    monkeypatch.setitem(KINDS, "table", table)
    assert kind_of("table") is table and "table" in entity_level_types()

    box = {"label": "table", "text": "t", "page": 0, "bbox": [0, 0, 10, 10]}
    outcome = compute_outcome("table", {"entities": [box]}, {"entities": [box, box]})
    assert outcome.corrected and outcome.field_outcomes["table"]["added"] == 1

    figure = FieldFigure(committed=60, corrected=40, unchanged=20, modified=40)
    decision = evaluate_trigger("table", "IDLE", {"table": figure}, {"*": 0.9}, 60, 10)
    assert decision.trigger and decision.below_fields == ["table"]
    assert field_summary("table", figure)["f1"] is not None  # entity-level figures

    spec = ModelSpec(model_type="table", labels=["O", "B-table", "I-table"], backbone="b")
    assert spec.head_kind == "token"
    assert model_needed("table", DataSummary(entity_labels={"table": 3})) is None

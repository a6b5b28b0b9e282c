"""The model kinds' registry: complete, and each kind's decisions."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from selfimprove_assets.lib.curation.result import ExtractorCurationConfig, curation_config_type
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
from selfimprove_assets.lib.models.needs import DataSummary, model_needed
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.monitor.trigger import FieldFigure, evaluate_trigger
from selfimprove_assets.lib.store.outcomes import compute_outcome
from selfimprove_assets.lib.types import MODEL_TYPES, ModelType
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
    assert curation_config_type("table") is ExtractorCurationConfig

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

"""The rule that decides whether a model type is needed, and the diagnosis of a V1 that did not
learn: both in terms of the data."""

from __future__ import annotations

from selfimprove_assets.lib.models.needs import (
    MIN_EXAMPLES_PER_LABEL,
    DataSummary,
    diagnose_no_learning,
    model_needed,
)
from selfimprove_assets.lib.types import Entity
from selfimprove_assets_tests.lib.models.tiny_corpus import tagged_example


def test_one_document_type_needs_no_classifier_and_entities_need_an_extractor() -> None:
    examples = [tagged_example(f"d{i}", "invoice", ["B-total", "I-total", "O"]) for i in range(4)]
    reason = model_needed("classifier", examples)
    assert reason is not None and "'invoice'" in reason and "second type" in reason
    assert model_needed("extractor", examples) is None
    examples.append(tagged_example("d9", "referral", ["O"]))
    assert model_needed("classifier", examples) is None


def test_no_labeled_entity_needs_no_extractor() -> None:
    examples = [tagged_example("a", "invoice", ["O", "O"]), tagged_example("b", "referral", ["O"])]
    reason = model_needed("extractor", examples)
    assert reason is not None and "none of the 2 training documents" in reason
    assert model_needed("classifier", examples) is None
    assert model_needed("classifier", []) is not None


def test_labeled_entities_that_never_aligned_still_need_an_extractor() -> None:
    example = tagged_example("a", "invoice", ["O", "O"])
    example.entities = [Entity("total", "12.00"), Entity("date", "1 May")]
    summary = DataSummary.of([example])
    assert summary.entities == 0 and summary.labeled_entities == 2
    assert model_needed("extractor", summary) is None
    message = diagnose_no_learning("extractor", summary, predicted_entities=0)
    assert "only 0 of the 2 labeled entities were aligned" in message
    assert "alignment coverage" in message


def test_summary_counts_entities_by_b_tags_and_round_trips() -> None:
    summary = DataSummary.of(
        [
            tagged_example("a", "invoice", ["B-total", "I-total", "B-date", "O"]),
            tagged_example("b", "invoice", ["B-total", "O"]),
        ]
    )
    assert summary.doc_types == {"invoice": 2}
    assert summary.entity_labels == {"total": 2, "date": 1}
    assert summary.only_type == "invoice"
    assert DataSummary.from_dict(summary.to_dict()) == summary
    assert DataSummary.from_dict(None) is None
    merged = summary.merged(DataSummary(doc_types={"referral": 3}))
    assert merged.doc_types == {"invoice": 2, "referral": 3} and merged.only_type is None


def test_diagnosis_names_rare_labels_and_a_collapse_onto_o() -> None:
    data = DataSummary(
        doc_types={"invoice": 40}, entity_labels={"total": 40, "iban": 2, "swift": 1}
    )
    message = diagnose_no_learning("extractor", data, predicted_entities=0)
    assert "collapse onto 'O'" in message
    assert "iban (2), swift (1)" in message and "total" not in message.split("What to do")[0]
    assert "merge rare labels" in message and "alignment coverage" in message
    assert "learning rate" not in message  # the data is the problem, not the optimiser


def test_diagnosis_of_a_classifier_on_fine_data_suggests_the_learning_rate() -> None:
    data = DataSummary(doc_types={"invoice": 20, "referral": 20})
    message = diagnose_no_learning("classifier", data, predicted_types=["invoice"] * 10)
    assert "'invoice' for every document" in message and "collapse onto one class" in message
    assert f"at least {MIN_EXAMPLES_PER_LABEL} examples" in message
    assert "lower the learning rate" in message


def test_diagnosis_of_rare_types_and_of_one_class() -> None:
    rare = diagnose_no_learning("classifier", DataSummary(doc_types={"invoice": 30, "memo": 2}))
    assert "memo (2)" in rare and "merge them into a related type" in rare
    assert "learning rate" not in rare
    one = diagnose_no_learning("classifier", DataSummary(doc_types={"invoice": 30}))
    assert "nothing to classify" in one

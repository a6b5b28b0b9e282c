"""Scores count against the labels as written, not against what the alignment found."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.corpus import to_training_example
from selfimprove_assets.lib.evaluation.compare import ExtractionRecord, compare_extraction
from selfimprove_assets.lib.evaluation.scoring import score_extraction
from selfimprove_assets.lib.metrics import EntityReport
from selfimprove_assets.lib.types import Entity, PageWords, TrainingExample, Word


def _page(texts: list[str]) -> PageWords:
    words = [Word(t, (10 + 60 * i, 10, 60 + 60 * i, 30), 0) for i, t in enumerate(texts)]
    return PageWords(words=words, page_count=1)


def _labeled(doc_id: str, texts: list[str], entities: list[Entity]) -> TrainingExample:
    page = _page(texts)
    tags = align_entities(page.words, entities).tags
    example = to_training_example(doc_id, "intake", page, tags)
    example.entities = entities
    return example


def _report(examples: list[TrainingExample], predicted: list[list[Entity]]) -> EntityReport:
    report = score_extraction(examples, predicted).report
    assert isinstance(report, EntityReport)
    return report


# The scan reads "J0hn" for "John"; the date of service is not on the page at all.
WORDS = ["patient", "J0hn", "Smith", "total", "12.50", "thanks"]
LABELS = [
    Entity("name", "John Smith", 0),
    Entity("total", "12.50", 0),
    Entity("date", "2024-01-02", 0),
]


def test_an_unaligned_labeled_entity_is_a_miss_and_counts_in_the_support() -> None:
    example = _labeled("d1", WORDS, LABELS)
    assert [e.label for e in align_entities(_page(WORDS).words, LABELS).unaligned] == ["date"]
    predicted = [[Entity("name", "John Smith", 0), Entity("total", "12.50,", 0)]]
    result = score_extraction([example], predicted)
    report = result.report
    assert isinstance(report, EntityReport)
    assert report.micro.support == 3  # the date counts although no word carries it
    assert report.micro.true_positives == 2
    assert report.micro.recall == pytest.approx(2 / 3) and report.micro.precision == 1.0
    assert report.per_label["date"].support == 1 and report.per_label["date"].recall == 0.0
    # the reviewer would have added the date: the field figures say so too
    assert result.field_figures["date"] == {"unchanged": 0, "modified": 0, "added": 1, "removed": 0}
    assert result.documents[0].per_label["date"] == {"tp": 0, "fp": 0, "fn": 1}
    # without the labeled entities (an older dataset) the truth is the tagged words only
    legacy = TrainingExample(**{**example.__dict__, "entities": None})
    assert _report([legacy], predicted).micro.support == 2


def test_a_prediction_is_compared_with_the_labeled_text_not_the_ocr_text() -> None:
    example = _labeled("d1", WORDS, LABELS)
    ocr_text = [[Entity("name", "J0hn Smith", 0)]]  # exactly the words under the label
    labeled_text = [[Entity("name", "john smith", 0)]]
    assert _report([example], ocr_text).per_label["name"].true_positives == 0
    assert _report([example], labeled_text).per_label["name"].f1 == 1.0
    wrong_page = [[Entity("name", "John Smith", 1)]]
    assert _report([example], wrong_page).micro.true_positives == 0


def test_paired_comparison_follows_the_labeled_truth() -> None:
    examples = [_labeled(f"d{i}", WORDS, LABELS) for i in range(6)]
    finds_two = [[Entity("name", "John Smith", 0), Entity("total", "12.50", 0)]] * 6
    finds_all = [[*finds_two[0], Entity("date", "2024-01-02", 0)]] * 6
    default, candidate = (
        score_extraction(examples, finds_two),
        score_extraction(examples, finds_all),
    )
    records = [
        ExtractionRecord(d.document_id, d.per_label, c.per_label, d.gold_type)
        for d, c in zip(default.documents, candidate.documents, strict=True)
    ]
    report = compare_extraction(records, dataset="golden", n_boot=200)
    assert report.overall.default == pytest.approx(0.8)  # P 1, R 2/3
    assert report.overall.candidate == pytest.approx(1.0)
    assert report.fields["date"].default == 0.0 and report.fields["date"].candidate == 1.0
    with pytest.raises(ValueError, match="1 documents but 2 predictions"):
        score_extraction(examples[:1], finds_two[:2])

"""Placing labeled entities on extracted words: by box, by (fuzzy) text, and why an entity
matched none."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from selfimprove_assets.lib.documents.alignment import (
    UNALIGNED_REASONS,
    AlignmentResult,
    align_entities,
    alignment_summary,
)
from selfimprove_assets.lib.documents.corpus import to_training_example
from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.documents.pages import extract_pages
from selfimprove_assets.lib.types import Entity, PageWords, Word


def test_alignment_by_box_and_by_text() -> None:
    words = [
        Word("Patient:", (50, 100, 120, 112), 0),
        Word("Jane", (130, 100, 170, 112), 0),
        Word("Doe,", (175, 100, 210, 112), 0),
        Word("Total", (50, 200, 100, 212), 0),
        Word("$1,234.56", (110, 200, 190, 212), 0),
        Word("Jane", (50, 100, 90, 112), 1),
        Word("Doe", (95, 100, 130, 112), 1),
    ]
    entities = [
        Entity("patient_name", "Jane Doe", 0, (128, 98, 205, 114)),  # by box
        Entity("total_amount", "1234.56", 0),  # by text, punctuation ignored
        Entity("patient_name", "Jane Doe", 1),  # by text on the second page
        Entity("missing", "not there", 0),
        Entity("ghost", "Jane", 3),  # a page with no words
    ]
    result = align_entities(words, entities)
    assert result.tags == [
        "O",
        "B-patient_name",
        "I-patient_name",
        "O",
        "B-total_amount",
        "B-patient_name",
        "I-patient_name",
    ]
    assert [e.label for e in result.unaligned] == ["missing", "ghost"]
    example = to_training_example("d1", "intake", PageWords(words, 2), result.tags)
    assert example.word_tags == result.tags and example.pages == [0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError):
        to_training_example("d1", "intake", PageWords(words, 2), result.tags[:-1])


def test_fuzzy_text_alignment_tolerates_an_ocr_slip() -> None:
    words = [
        Word("Name", (0, 0, 10, 10)),
        Word("Jonathon", (20, 0, 40, 10)),
        Word("Srnith", (45, 0, 60, 10)),
    ]
    assert align_entities(words, [Entity("n", "Jonathon Smith")]).tags == ["O", "B-n", "I-n"]
    assert align_entities(words, [Entity("n", "Jonathon Smith")], fuzzy=1.0).unaligned


def test_unaligned_entities_say_why_and_the_summary_counts_them_per_label() -> None:
    words = [
        Word("Date:", (100, 100, 140, 112), 0),
        Word("9/3/92", (150, 100, 200, 112), 0),
        Word("Total", (100, 300, 150, 312), 0),
    ]
    entities = [
        Entity("answer", "9/3/92", 0, (145, 95, 205, 115)),
        Entity("answer", "9/3/92", 0, (145, 95, 205, 115)),  # the same words, already taken
        Entity("answer", "Licensee", 0, (600, 600, 700, 620)),  # an empty spot, text absent
        Entity("question", "Day", 0, (100, 100, 115, 112)),  # cuts "Date:", text differs
        Entity("question", "Date", 0, (600, 100, 640, 112)),  # "Date:" is too far from the box
        Entity("question", "Supervisor", 0),  # no box, text absent
        Entity("question", ":", 0),  # no box, nothing to spell
        Entity("header", "FORM", 2),  # page 2 has no words
        Entity("question", "Total", 0, (90, 318, 160, 335)),  # box just misses, text near it
    ]
    result = align_entities(words, entities)
    assert result.tags == ["O", "B-answer", "B-question"]
    assert [e.text for e in result.unaligned] == [
        "9/3/92",
        "Licensee",
        "Day",
        "Date",
        "Supervisor",
        ":",
        "FORM",
    ]
    assert result.reasons == [
        "box_words_taken",
        "box_covers_no_word",
        "box_cuts_words",
        "box_covers_no_word",
        "text_not_found",
        "empty_text",
        "no_words_on_page",
    ]
    # without a box, "Date" is found anywhere on its page
    assert align_entities(words, [Entity("question", "Date", 0)]).tags == ["B-question", "O", "O"]
    assert set(result.reasons) <= set(UNALIGNED_REASONS)
    expected = {
        "answer": {
            "aligned": 1,
            "total": 3,
            "reasons": {"box_words_taken": 1, "box_covers_no_word": 1},
        },
        "header": {"aligned": 0, "total": 1, "reasons": {"no_words_on_page": 1}},
        "question": {
            "aligned": 1,
            "total": 5,
            "reasons": {
                "box_cuts_words": 1,
                "box_covers_no_word": 1,
                "text_not_found": 1,
                "empty_text": 1,
            },
        },
    }
    assert alignment_summary([result]) == expected
    assert list(alignment_summary([result])) == ["answer", "header", "question"]
    assert alignment_summary([(words, entities[:3]), (words, entities[3:])]) == expected
    # an AlignmentResult built the old way (no reasons) still summarizes
    legacy = AlignmentResult(tags=["O"], unaligned=[entities[2]], spans=[])
    assert alignment_summary([legacy])["answer"]["reasons"] == {"unknown": 1}


def test_hand_written_corpus_with_unseen_types_and_labels(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setFont("Times-Roman", 14)
    canvas.drawString(60, 780, "Veterinary Vaccination Record")
    canvas.drawString(60, 740, "Pet: Rex the Dog")
    canvas.drawString(60, 710, "Vaccine: Rabies booster")
    canvas.showPage()
    canvas.save()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rex.pdf").write_bytes(buffer.getvalue())
    record = {
        "document_id": "vet-1",
        "file": "docs/rex.pdf",
        "doc_type": "vaccination_record",
        "entities": [
            {"label": "pet_name", "text": "Rex the Dog", "page": 0},
            {"label": "vaccine", "text": "Rabies booster", "page": 0},
        ],
    }
    (tmp_path / "labels.jsonl").write_text(json.dumps(record) + "\n")
    [doc] = read_labels(tmp_path)
    pages = extract_pages(doc.file)
    result = align_entities(pages.words, doc.entities)
    assert not result.unaligned
    tagged = [(w.text, t) for w, t in zip(pages.words, result.tags, strict=True) if t != "O"]
    assert tagged == [
        ("Rex", "B-pet_name"),
        ("the", "I-pet_name"),
        ("Dog", "I-pet_name"),
        ("Rabies", "B-vaccine"),
        ("booster", "I-vaccine"),
    ]

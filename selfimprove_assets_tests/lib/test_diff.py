from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove_assets.lib.diff import (
    box_iou,
    diff_classification,
    diff_entities,
    normalize_text,
)
from selfimprove_assets.lib.types import Entity

boxes = st.one_of(
    st.none(),
    st.tuples(
        st.integers(0, 500), st.integers(0, 500), st.integers(501, 1000), st.integers(501, 1000)
    ),
)
entities = st.builds(
    Entity,
    label=st.sampled_from(["name", "date", "total"]),
    text=st.text(alphabet="ab .,-", max_size=6),
    page=st.integers(0, 1),
    bbox=boxes,
)


def test_normalize_ignores_case_spacing_and_edge_punctuation() -> None:
    assert normalize_text("  John   SMITH, ") == "john smith"
    assert normalize_text("(12/03/2024).") == "12/03/2024"
    assert normalize_text("12/03") != normalize_text("1203")


def test_classification_diff() -> None:
    assert not diff_classification("invoice", "invoice").corrected
    assert diff_classification("invoice", "letter").corrected
    assert diff_classification(None, "letter").corrected
    with pytest.raises(ValueError, match="verified_type"):
        diff_classification("invoice", "  ")


def test_entity_outcomes_on_a_known_case() -> None:
    predicted = [
        Entity("name", "John Smith", 0, (100, 100, 300, 120)),
        Entity("date", "01/02/2024", 0, (100, 200, 200, 220)),
        Entity("total", "99.00", 1, (500, 500, 600, 520)),
    ]
    verified = [
        Entity("name", "john smith.", 0, (100, 100, 300, 120)),  # cosmetic -> unchanged
        Entity("date", "01/03/2024", 0, (100, 200, 200, 220)),  # value changed -> modified
        Entity("patient_id", "A-17", 0, None),  # missed -> added
    ]
    diff = diff_entities(predicted, verified)
    assert diff.counts["name"] == {"unchanged": 1, "modified": 0, "added": 0, "removed": 0}
    assert diff.counts["date"]["modified"] == 1
    assert diff.counts["total"]["removed"] == 1
    assert diff.counts["patient_id"]["added"] == 1
    assert diff.corrected
    assert diff.corrected_labels() == ["date", "patient_id", "total"]
    assert diff.totals() == {"unchanged": 1, "modified": 1, "added": 1, "removed": 1}
    assert len(diff.to_dict()["records"]) == 4


def test_greedy_pairing_prefers_overlapping_box() -> None:
    predicted = [
        Entity("total", "10.00", 0, (0, 0, 100, 20)),
        Entity("total", "7", 0, (0, 500, 100, 520)),
    ]
    verified = [Entity("total", "70", 0, (0, 500, 100, 520))]
    diff = diff_entities(predicted, verified)
    modified = [r for r in diff.records if r.outcome == "modified"]
    assert modified[0].predicted is predicted[1]
    assert diff.counts["total"] == {"unchanged": 0, "modified": 1, "added": 0, "removed": 1}


def test_min_pair_score_keeps_unrelated_values_apart() -> None:
    diff = diff_entities([Entity("x", "aaaa")], [Entity("x", "zzzz")], min_pair_score=0.5)
    assert diff.counts["x"] == {"unchanged": 0, "modified": 0, "added": 1, "removed": 1}


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou(None, (0, 0, 1, 1)) == 0.0


@settings(max_examples=150, deadline=None)
@given(st.lists(entities, max_size=7), st.lists(entities, max_size=7))
def test_counts_account_for_every_entity(predicted: list[Entity], verified: list[Entity]) -> None:
    diff = diff_entities(predicted, verified)
    for label, c in diff.counts.items():
        assert all(v >= 0 for v in c.values())
        n_pred = sum(e.label == label for e in predicted)
        n_ver = sum(e.label == label for e in verified)
        assert c["unchanged"] + c["modified"] + c["removed"] == n_pred
        assert c["unchanged"] + c["modified"] + c["added"] == n_ver
    assert set(diff.counts) == {e.label for e in predicted + verified}
    assert len(diff.records) == sum(sum(c.values()) for c in diff.counts.values())


@settings(max_examples=100, deadline=None)
@given(st.lists(entities, max_size=8))
def test_diff_with_itself_is_unchanged(items: list[Entity]) -> None:
    diff = diff_entities(items, list(reversed(items)))
    assert not diff.corrected
    assert all(
        c["unchanged"] == sum(e.label == lbl for e in items) for lbl, c in diff.counts.items()
    )


@given(st.text(max_size=20))
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize_text(normalize_text(text)) == normalize_text(text)

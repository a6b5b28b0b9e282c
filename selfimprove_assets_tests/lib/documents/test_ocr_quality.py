from __future__ import annotations

from selfimprove_assets.lib.documents.ocr_quality import (
    normalized_tokens,
    recall_ratio,
    word_recall,
)
from selfimprove_assets.lib.types import Word


def test_tokens_are_split_normalized_and_counted() -> None:
    tokens = normalized_tokens(["Name / Phone Ext. :", "M. Hamann, P. Harper", "  "])
    assert tokens == {"name": 1, "phone": 1, "ext": 1, "m": 1, "hamann": 1, "p": 1, "harper": 1}


def test_word_recall_is_a_multiset_intersection() -> None:
    labeled = ["Brown & Williamson", "Brown", "Date: 9/3/92"]
    words = [
        Word("BROWN", (0, 0, 10, 10)),
        Word("Williamson,", (0, 0, 10, 10)),
        Word("Williamson", (0, 0, 10, 10)),  # read twice, labeled once: counts once
        Word("date", (0, 0, 10, 10)),
        Word("9/3/92", (0, 0, 10, 10)),
        Word("noise", (0, 0, 10, 10)),
    ]
    # labeled tokens: brown x2, williamson, date, 9392 ("&" normalizes to nothing)
    assert word_recall(labeled, words) == (4, 5)
    assert word_recall(labeled, [w.text for w in words]) == (4, 5)
    assert word_recall(labeled, []) == (0, 5)
    assert word_recall([], words) == (0, 0)
    assert recall_ratio(4, 5) == 0.8 and recall_ratio(0, 0) == 1.0

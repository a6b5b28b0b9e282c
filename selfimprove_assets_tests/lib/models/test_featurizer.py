from __future__ import annotations

import pytest

from selfimprove_assets.lib.models.backbone import load_tokenizer
from selfimprove_assets.lib.models.featurizer import (
    IGNORE_INDEX,
    SEP_BOX,
    Featurizer,
    clamp_box,
    length_batches,
)

LABELS = {"O": 0, "B-total": 1, "I-total": 2}


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone: str):
    return load_tokenizer(tiny_backbone)


def _doc(n: int) -> tuple[list[str], list[tuple[int, int, int, int]], list[str]]:
    words = [("2024-01-02" if i % 5 == 0 else "invoice") for i in range(n)]  # multi-token words
    boxes = [(i, i + 1, i + 10, i + 11) for i in range(n)]
    tags = ["B-total" if i % 5 == 0 else "O" for i in range(n)]
    return words, boxes, tags


def test_long_document_is_windowed_with_overlap_and_word_ids(tokenizer) -> None:
    featurizer = Featurizer(tokenizer, max_length=16, stride=4)
    words, boxes, tags = _doc(30)
    windows = featurizer.windows(words, boxes, word_tags=tags, label2id=LABELS)
    assert len(windows) > 3
    covered: set[int] = set()
    for w in windows:
        assert len(w) <= 16
        assert (
            w.input_ids[0] == tokenizer.cls_token_id and w.input_ids[-1] == tokenizer.sep_token_id
        )
        assert w.word_ids[0] is None and w.word_ids[-1] is None
        assert w.bbox[-1] == SEP_BOX
        first_word = w.word_ids[1]
        assert w.first_subword[1], "a window starts on the first subword of a word"
        assert first_word is not None
        for word, box in zip(w.word_ids[1:-1], w.bbox[1:-1], strict=True):
            assert word is not None and box == boxes[word]  # subwords inherit the word's box
            covered.add(word)
    assert covered == set(range(30))
    for left, right in zip(windows, windows[1:], strict=False):
        shared = {i for i in left.word_ids if i is not None} & {
            i for i in right.word_ids if i is not None
        }
        assert shared, "consecutive windows overlap"


def test_first_subword_gets_the_tag(tokenizer) -> None:
    words, boxes, tags = _doc(6)
    (window,) = Featurizer(tokenizer, max_length=64, stride=8).windows(
        words, boxes, word_tags=tags, label2id=LABELS
    )
    assert window.labels is not None
    for pos, word in enumerate(window.word_ids):
        if word is None:
            assert window.labels[pos] == IGNORE_INDEX
        elif window.first_subword[pos]:
            assert window.labels[pos] == LABELS[tags[word]]
        else:
            assert window.labels[pos] == IGNORE_INDEX
    assert sum(1 for f in window.first_subword if f) == 6
    (all_sub,) = Featurizer(tokenizer, max_length=64, stride=8, label_all_subwords=True).windows(
        words, boxes, word_tags=tags, label2id=LABELS
    )
    assert all_sub.labels is not None
    continuation = [
        all_sub.labels[p]
        for p, w in enumerate(all_sub.word_ids)
        if w == 0 and not all_sub.first_subword[p]
    ]
    assert continuation and set(continuation) == {LABELS["I-total"]}


def test_collate_pads_to_the_longest_and_batches_by_length(tokenizer) -> None:
    featurizer = Featurizer(tokenizer, max_length=32, stride=4)
    windows = []
    for i, n in enumerate([2, 7, 4]):
        words, boxes, tags = _doc(n)
        windows += featurizer.windows(words, boxes, doc_index=i, word_tags=tags, label2id=LABELS)
    batch = featurizer.collate(windows)
    width = max(len(w) for w in windows)
    assert batch["input_ids"].shape == (3, width)
    assert batch["bbox"].shape == (3, width, 4)
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(w) for w in windows]
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    order = [i for b in length_batches(windows, 2) for i in b]
    assert [len(windows[i]) for i in order] == sorted(len(w) for w in windows)


def test_empty_document_and_bad_input(tokenizer) -> None:
    featurizer = Featurizer(tokenizer, max_length=16, stride=4)
    (empty,) = featurizer.windows([], [])
    assert empty.input_ids == [tokenizer.cls_token_id, tokenizer.sep_token_id]
    with pytest.raises(ValueError, match="2 words but 1 boxes"):
        featurizer.windows(["a", "b"], [(0, 0, 1, 1)])
    with pytest.raises(ValueError, match="not a known label"):
        featurizer.windows(["a"], [(0, 0, 1, 1)], word_tags=["B-unknown"], label2id=LABELS)
    with pytest.raises(ValueError, match="stride"):
        Featurizer(tokenizer, max_length=16, stride=20)


def test_clamp_box() -> None:
    assert clamp_box((1200, -5, 10, 20)) == (10, 0, 1000, 20)
    with pytest.raises(ValueError, match="4 coordinates"):
        clamp_box((1, 2, 3))

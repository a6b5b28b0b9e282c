"""The XY-cut reading order: blocks, lines, and the same order in training and serving."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.backbone import load_tokenizer
from selfimprove_assets.lib.models.extractor import predict_entities
from selfimprove_assets.lib.models.featurizer import Featurizer, Window
from selfimprove_assets.lib.models.layout import xycut_order
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.training import TrainConfig, example_document, train
from selfimprove_assets.lib.types import BBox, TrainingExample, Word


def two_columns() -> tuple[list[str], list[BBox]]:
    """A title across the page, then two columns of three lines of two words, listed row by
    row across both columns (as a line-based OCR of the whole width would)."""
    words: list[str] = ["title", "here"]
    boxes: list[BBox] = [(300, 20, 450, 45), (470, 20, 600, 45)]
    for row in range(3):
        y = 100 + 40 * row
        for column, x in (("l", 50), ("r", 560)):
            words += [f"{column}{row}a", f"{column}{row}b"]
            boxes += [(x, y, x + 150, y + 20), (x + 170, y + 2, x + 320, y + 20)]
    return words, boxes


def test_a_two_column_page_is_read_column_by_column() -> None:
    words, boxes = two_columns()
    order = [words[i] for i in xycut_order(boxes, [0] * len(words))]
    assert order == [
        "title", "here",
        "l0a", "l0b", "l1a", "l1b", "l2a", "l2b",
        "r0a", "r0b", "r1a", "r1b", "r2a", "r2b",
    ]  # fmt: skip


def test_pages_are_read_in_turn_and_lines_top_down() -> None:
    boxes: list[BBox] = [(100, 500, 200, 520), (100, 100, 200, 120), (300, 102, 400, 121)]
    boxes.append((100, 100, 200, 120))
    assert xycut_order(boxes, [0, 0, 0, 1]) == [1, 2, 0, 3]
    assert xycut_order([], []) == []


def test_the_featurizer_reads_in_its_order_and_keeps_word_indices(tiny_backbone: str) -> None:
    _, boxes = two_columns()
    words = ["total", "dated", *(["alice", "smith"] * 6)]
    featurizer = Featurizer(
        load_tokenizer(tiny_backbone), max_length=64, stride=8, reading_order="xycut"
    )
    tags = ["O"] * len(words)
    tags[2], tags[3] = "B-x", "I-x"  # the labels follow their words, wherever they are read
    label2id = {"O": 0, "B-x": 1, "I-x": 2}
    (window,) = featurizer.windows(words, boxes, word_tags=tags, label2id=label2id, pages=[0] * 14)
    firsts = [w for w, f in zip(window.word_ids, window.first_subword, strict=True) if f]
    assert firsts == xycut_order(boxes, [0] * 14)
    for pos, word in enumerate(window.word_ids):
        if word is not None:
            assert window.bbox[pos] == boxes[word]
            if window.first_subword[pos]:
                assert window.labels is not None and window.labels[pos] == label2id[tags[word]]


def test_entities_are_decoded_along_the_reading_order() -> None:
    labels = ["O", "B-x", "I-x"]
    words = [Word(t, (0, 0, 1, 1), 0) for t in ("alpha", "noise", "beta")]
    order = [0, 2, 1]  # the model read alpha, beta, noise
    firsts = [False, True, True, True, False]
    window = Window(0, [2, 5, 6, 7, 3], [(0, 0, 0, 0)] * 5, [None, 0, 2, 1, None], firsts)
    probs = [[1 / 3] * 3, [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [1 / 3] * 3]
    logits = torch.log(torch.tensor(probs))
    for decoder in ("spans", "viterbi"):
        (entity,) = predict_entities(
            words, [window], [logits], labels, decoder=decoder, order=order
        )
        assert entity.text == "alpha beta"
    given = predict_entities(words, [window], [logits], labels)
    assert [e.text for e in given] == ["alpha", "beta"]
    with pytest.raises(ValueError, match="not a permutation"):
        predict_entities(words, [window], [logits], labels, order=[0, 1])


def test_a_model_reading_in_xycut_order_trains_and_round_trips(
    tiny_backbone: str, corpus: list[TrainingExample], fast_config: TrainConfig, tmp_path: Path
) -> None:
    config = fast_config.model_copy(update=dict(reading_order="xycut", max_steps=2))
    bundle = train("extractor", corpus, backbone=tiny_backbone, config=config).bundle
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.spec.reading_order == "xycut" == loaded.featurizer.reading_order
    docs = [example_document(e) for e in corpus[:6]]
    got, want = ModelPredictor(loaded).extract(docs), ModelPredictor(bundle).extract(docs)
    assert [[(e.label, e.text) for e in d] for d in got] == [
        [(e.label, e.text) for e in d] for d in want
    ]
    with pytest.raises(ValueError, match="reading_order must be one of"):
        replace(loaded.spec, reading_order="zigzag")

from __future__ import annotations

import torch

from selfimprove_assets.lib.models.extractor import predict_entities
from selfimprove_assets.lib.models.featurizer import Window
from selfimprove_assets.lib.models.tags import decode_entities
from selfimprove_assets.lib.types import Word, union_box

WORDS = [
    Word("Total", (10, 10, 50, 20), 0),
    Word("12.50", (60, 12, 90, 22), 0),
    Word("Jane", (10, 40, 40, 50), 0),
    Word("Doe", (45, 38, 80, 52), 0),
    Word("Smith", (10, 5, 40, 15), 1),
]


def test_bio_decoding_boxes_pages_and_confidence() -> None:
    tags = ["O", "B-total", "B-name", "I-name", "I-name"]
    entities = decode_entities(WORDS, tags, [0.9, 0.8, 0.6, 0.4, 0.7])
    assert [(e.label, e.text, e.page) for e in entities] == [
        ("total", "12.50", 0),
        ("name", "Jane Doe", 0),
        ("name", "Smith", 1),  # an entity never spans two pages
    ]
    assert entities[1].bbox == (10, 38, 80, 52) == union_box([WORDS[2].bbox, WORDS[3].bbox])
    assert abs((entities[1].confidence or 0) - 0.5) < 1e-9


def test_dangling_inside_tag_starts_an_entity() -> None:
    entities = decode_entities(WORDS[:3], ["I-total", "I-name", "O"])
    assert [(e.label, e.text) for e in entities] == [("total", "Total"), ("name", "12.50")]


def test_overlapping_windows_average_word_probabilities() -> None:
    labels = ["O", "B-total", "I-total"]
    words = WORDS[:2]
    # word 1 seen by two windows: one says O strongly, the other B-total more strongly
    w1 = Window(0, [2, 5, 6, 3], [(0, 0, 0, 0)] * 4, [None, 0, 1, None], [False, True, True, False])
    w2 = Window(0, [2, 6, 3], [(0, 0, 0, 0)] * 3, [None, 1, None], [False, True, False])
    l1 = torch.tensor([[0, 0, 0], [5.0, 0, 0], [2.0, 0, 0], [0, 0, 0]])
    l2 = torch.tensor([[0, 0, 0], [0, 9.0, 0], [0, 0, 0]])
    (entity,) = predict_entities(words, [w1, w2], [l1, l2], labels)
    assert (entity.label, entity.text, entity.bbox) == ("total", "12.50", WORDS[1].bbox)
    # confidence = the word's entity-label mass (B + I), averaged over the two windows
    p1 = torch.softmax(torch.tensor([2.0, 0, 0]), -1)
    p2 = torch.softmax(torch.tensor([0, 9.0, 0]), -1)
    expected = float(((p1 + p2) / 2)[1:].sum())
    assert entity.confidence is not None and abs(entity.confidence - expected) < 1e-4

"""BIO-constrained Viterbi decoding and the single-value (cardinality) rule."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove_assets.lib.models.decoding import (
    keep_single_values,
    single_value_labels,
    viterbi_tags,
)
from selfimprove_assets.lib.models.extractor import decode_viterbi, predict_entities
from selfimprove_assets.lib.models.featurizer import Window
from selfimprove_assets.lib.types import Entity, Word
from selfimprove_assets_tests.lib.models.tiny_corpus import tagged_example

LABELS = ["O", "B-a", "I-a", "B-b", "I-b"]


def _valid(tags: list[str], pages: list[int]) -> bool:
    for i, tag in enumerate(tags):
        if not tag.startswith("I-"):
            continue
        if i == 0 or pages[i] != pages[i - 1] or tags[i - 1] not in (f"B-{tag[2:]}", tag):
            return False
    return True


@st.composite
def documents(draw: st.DrawFn, max_words: int = 24) -> tuple[torch.Tensor, list[int]]:
    n = draw(st.integers(1, max_words))
    rows = draw(
        st.lists(
            st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=5, max_size=5),
            min_size=n,
            max_size=n,
        )
    )
    probs = torch.tensor(rows, dtype=torch.float32)
    probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-9)  # rows of zeros stay zeros
    breaks = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pages = list(itertools.accumulate(int(b) for b in breaks))
    return probs, pages


@settings(max_examples=200, deadline=None)
@given(documents())
def test_viterbi_never_emits_inside_after_outside_another_label_or_a_page(
    doc: tuple[torch.Tensor, list[int]],
) -> None:
    probs, pages = doc
    tags = [LABELS[t] for t in viterbi_tags(probs, LABELS, pages)]
    assert len(tags) == len(pages)
    assert _valid(tags, pages), tags


@settings(max_examples=60, deadline=None)
@given(documents(max_words=5))
def test_viterbi_finds_the_best_valid_path(doc: tuple[torch.Tensor, list[int]]) -> None:
    probs, pages = doc
    logp = np.log(np.clip(probs.numpy().astype(np.float64), 1e-12, None))
    empty = probs.sum(-1).numpy() == 0
    logp[empty] = np.log(np.array([1.0, 1e-12, 1e-12, 1e-12, 1e-12]))

    def score(path: tuple[int, ...]) -> float:
        return float(sum(logp[i, t] for i, t in enumerate(path)))

    valid = [
        p
        for p in itertools.product(range(len(LABELS)), repeat=len(pages))
        if _valid([LABELS[t] for t in p], pages)
    ]
    best = max(score(p) for p in valid)
    got = tuple(viterbi_tags(probs, LABELS, pages))
    assert score(got) >= best - 1e-9


WORDS = [Word(t, (10 * i, 0, 10 * i + 8, 10), 0) for i, t in enumerate("a b c d e".split())]


def test_viterbi_recovers_an_obvious_path_and_mends_a_broken_span() -> None:
    # word 2's argmax is I-b inside an "a" span: span voting or argmax would split it;
    # the valid path keeps "a" whole because I-a after I-a is far likelier than B-b.
    probs = torch.tensor(
        [
            [0.90, 0.02, 0.02, 0.03, 0.03],
            [0.02, 0.90, 0.02, 0.03, 0.03],
            [0.02, 0.02, 0.44, 0.02, 0.50],
            [0.02, 0.02, 0.90, 0.03, 0.03],
            [0.90, 0.02, 0.02, 0.03, 0.03],
        ]
    )
    assert [LABELS[t] for t in viterbi_tags(probs, LABELS, [0] * 5)] == [
        "O",
        "B-a",
        "I-a",
        "I-a",
        "O",
    ]
    (entity,) = decode_viterbi(WORDS, probs, LABELS)
    assert (entity.label, entity.text) == ("a", "b c d")
    assert entity.confidence is not None
    assert abs(entity.confidence - (0.90 + 0.44 + 0.90) / 3) < 1e-6
    assert 0.0 <= entity.confidence <= 1.0


def test_predict_entities_decodes_with_the_chosen_decoder() -> None:
    logits = torch.log(
        torch.tensor([[0.25] * 5, [0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.6, 0.1, 0.1]])
    )
    window = Window(0, [2, 5, 6], [(0, 0, 0, 0)] * 3, [None, 0, 1], [False, True, True])
    words = WORDS[:2]
    spans = predict_entities(words, [window], list(logits[None]), LABELS)
    viterbi = predict_entities(words, [window], list(logits[None]), LABELS, decoder="viterbi")
    assert [(e.label, e.text) for e in spans] == [("a", "a b")]
    # the first word cannot be I-a: Viterbi opens it with B-a (or O) and continues it
    assert all(e.label == "a" for e in viterbi) and viterbi[-1].text.endswith("b")


def _entity(label: str, confidence: float) -> Entity:
    return Entity(label=label, text=label, page=0, bbox=None, confidence=confidence)


def test_single_value_labels_keep_the_most_confident_entity_only() -> None:
    entities = [_entity("total", 0.4), _entity("item", 0.9), _entity("total", 0.8)]
    entities.append(_entity("item", 0.2))
    kept = keep_single_values(entities, {"total"})
    assert [(e.label, e.confidence) for e in kept] == [("item", 0.9), ("total", 0.8), ("item", 0.2)]
    assert keep_single_values(entities, ()) == entities  # no rule: a no-op


def test_single_value_labels_are_learnt_from_the_documents_tags() -> None:
    examples = [
        tagged_example("d1", "receipt", ["B-total", "I-total", "B-item", "B-item", "O"]),
        tagged_example("d2", "receipt", ["B-item", "O", "B-total", "B-date"]),
        tagged_example("d3", "receipt", ["O", "B-date"]),
    ]
    assert single_value_labels(examples) == ["date", "total"]
    # a parent's verdict holds for labels this data never shows, not for those it repeats
    assert single_value_labels(examples, prior=["item", "member_id"]) == [
        "date",
        "member_id",
        "total",
    ]
    repeating = [tagged_example("f", "form", ["B-q", "B-a", "B-q", "I-q", "B-a"])]
    assert single_value_labels(repeating) == []  # FUNSD-like: labels repeat, the rule is a no-op

"""The entity extractor: a LayoutLM token classifier over BIO tags, and its decoding.

Token predictions are mapped back to words through the windows' ``word_ids`` (a word seen in
two overlapping windows gets the average of both), then decoded into entities whose box is
the union of their words' boxes: by span voting (``decode_spans``, the default) or by a
BIO-constrained Viterbi path (``decode_viterbi``), as the model's spec says.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch

from selfimprove_assets.lib.models.decoding import (
    SPANS,
    VITERBI,
    check_decoder,
    keep_single_values,
    viterbi_tags,
)
from selfimprove_assets.lib.models.featurizer import Window
from selfimprove_assets.lib.models.tags import decode_entities
from selfimprove_assets.lib.types import OUTSIDE, Entity, Word, union_box


def word_probabilities(
    windows: Sequence[Window], logits: Sequence[torch.Tensor], n_words: int, n_labels: int
) -> torch.Tensor:
    """Per-word class probabilities of one document (rows of zeros for words without tokens)."""
    total = torch.zeros((n_words, n_labels))
    seen = torch.zeros(n_words)
    for window, window_logits in zip(windows, logits, strict=True):
        probs = torch.softmax(window_logits.float(), dim=-1)
        for pos, (word, first) in enumerate(
            zip(window.word_ids, window.first_subword, strict=True)
        ):
            if word is not None and first:
                total[word] += probs[pos]
                seen[word] += 1
    return total / seen.clamp(min=1).unsqueeze(-1)


def decode_spans(words: Sequence[Word], probs: torch.Tensor, labels: Sequence[str]) -> list[Entity]:
    """Entities from per-word tag probabilities, voting per span rather than per word.

    Per-word argmax over 2k+1 BIO tags fragments multi-word values ("Fisher" as a provider,
    "Family Practice" as a facility) whenever the label mass is split. Here a word is inside
    an entity when the total entity mass beats ``O``; a span starts where ``B-`` mass beats
    ``I-`` mass (or after ``O``, or on a new page); and the span takes the label with the
    largest probability summed over its words.
    """
    entity_labels = sorted({t[2:] for t in labels if t != OUTSIDE})
    index = {t: i for i, t in enumerate(labels)}
    b_cols = [index[f"B-{lbl}"] for lbl in entity_labels if f"B-{lbl}" in index]
    i_cols = [index[f"I-{lbl}"] for lbl in entity_labels if f"I-{lbl}" in index]
    columns = [[index[t] for t in (f"B-{lbl}", f"I-{lbl}") if t in index] for lbl in entity_labels]
    per_label = torch.stack([probs[:, cols].sum(-1) for cols in columns], dim=-1)  # words x labels
    outside = probs[:, index[OUTSIDE]] if OUTSIDE in index else torch.zeros(len(words))
    b_mass = probs[:, b_cols].sum(-1) if b_cols else torch.zeros(len(words))
    i_mass = probs[:, i_cols].sum(-1) if i_cols else torch.zeros(len(words))
    spans: list[list[int]] = []
    for i in range(len(words)):
        if float(outside[i]) >= float(b_mass[i] + i_mass[i]):
            continue
        starts = (
            not spans
            or spans[-1][-1] != i - 1
            or words[i].page != words[i - 1].page
            or float(b_mass[i]) > float(i_mass[i])
        )
        if starts:
            spans.append([i])
        else:
            spans[-1].append(i)
    entities = []
    for span in spans:
        votes = per_label[span].sum(0)
        best = int(votes.argmax())
        members = [words[i] for i in span]
        entities.append(
            Entity(
                label=entity_labels[best],
                text=" ".join(w.text for w in members),
                page=members[0].page,
                bbox=union_box([w.bbox for w in members]),
                confidence=float(votes[best]) / len(span),
            )
        )
    return entities


def decode_viterbi(
    words: Sequence[Word], probs: torch.Tensor, labels: Sequence[str]
) -> list[Entity]:
    """Entities of the most probable valid BIO sequence (``decoding.viterbi_tags``); an
    entity's confidence is the mean probability of its words' chosen tags."""
    path = viterbi_tags(probs, labels, [w.page for w in words])
    chosen = probs[torch.arange(len(path)), torch.tensor(path, dtype=torch.long)]
    return decode_entities(words, [labels[t] for t in path], chosen.clamp(0.0, 1.0).tolist())


def predict_entities(
    words: Sequence[Word],
    windows: Sequence[Window],
    logits: Sequence[torch.Tensor],
    labels: Sequence[str],
    *,
    decoder: str = SPANS,
    single_value_labels: Collection[str] = (),
    order: Sequence[int] | None = None,
) -> list[Entity]:
    """Entities of one document from its windows' token logits, decoded by ``decoder``
    (``spans``: ``decode_spans``; ``viterbi``: ``decode_viterbi``) over the words in the
    model's reading ``order`` (word indices; None: as given), keeping at most one entity (the
    most confident) of each label in ``single_value_labels``."""
    check_decoder(decoder)
    if not words:
        return []
    probs = word_probabilities(windows, logits, len(words), len(labels))
    if float(probs.sum()) == 0.0:
        return []
    if order is not None:
        if sorted(order) != list(range(len(words))):
            raise ValueError(f"order is not a permutation of the document's {len(words)} words")
        words = [words[i] for i in order]
        probs = probs[torch.tensor(list(order), dtype=torch.long)]
    decode = decode_viterbi if decoder == VITERBI else decode_spans
    return keep_single_values(decode(words, probs, labels), single_value_labels)

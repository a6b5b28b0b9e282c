"""Alternative decoders of per-word tag probabilities, and the per-document cardinality rule.

``viterbi_tags`` picks the most probable tag sequence that is valid BIO: ``I-X`` follows only
``B-X`` or ``I-X`` of the same label on the same page, so an entity is decoded as a whole span
rather than word by word. ``keep_single_values`` keeps, for each label known to occur at most
once per document, only its most confident entity.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import get_args

import numpy as np
import torch

from selfimprove_assets.lib.defaults import Decoder
from selfimprove_assets.lib.types import OUTSIDE, Entity, TrainingExample

SPANS = "spans"
VITERBI = "viterbi"
DECODERS: tuple[str, ...] = get_args(Decoder)  # the training setting's choices
_FLOOR = 1e-12  # log(0) guard: a tag of probability 0 is only ever chosen when nothing else is


def check_decoder(decoder: str) -> str:
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    return decoder


def allowed_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start, step)``: which tags may open a sequence (or a page), and ``step[prev, cur]``
    whether ``cur`` may follow ``prev``. ``I-X`` may only follow ``B-X`` or ``I-X``."""
    n = len(labels)
    start = np.ones(n, dtype=bool)
    step = np.ones((n, n), dtype=bool)
    for cur, tag in enumerate(labels):
        if not tag.startswith("I-"):
            continue
        start[cur] = False
        same = {f"B-{tag[2:]}", tag}
        for prev, before in enumerate(labels):
            step[prev, cur] = before in same
    return start, step


def viterbi_tags(probs: torch.Tensor, labels: Sequence[str], pages: Sequence[int]) -> list[int]:
    """The most probable valid BIO tag sequence (tag indices) for per-word ``probs``.

    A word whose row is all zeros (no token reached it) is scored as ``O``. A page break acts
    as a sequence start: no entity continues across pages."""
    n_words = int(probs.shape[0])
    if n_words == 0:
        return []
    p = probs.detach().float().cpu().numpy().astype(np.float64, copy=True)
    if OUTSIDE in labels:
        empty = p.sum(-1) == 0
        p[empty, labels.index(OUTSIDE)] = 1.0
    scores = np.log(np.clip(p, _FLOOR, None))
    start, step = allowed_transitions(labels)
    blocked_start = np.where(start, 0.0, -np.inf)
    blocked_step = np.where(step, 0.0, -np.inf)
    if not start.any():
        raise ValueError(f"no tag can start an entity sequence among {list(labels)}")
    best = scores[0] + blocked_start
    back = np.zeros((n_words, len(labels)), dtype=np.int64)
    for i in range(1, n_words):
        if pages[i] != pages[i - 1]:
            prev = int(best.argmax())
            back[i] = prev
            best = best[prev] + scores[i] + blocked_start
            continue
        total = best[:, None] + blocked_step  # prev x cur
        back[i] = total.argmax(0)
        best = total[back[i], np.arange(len(labels))] + scores[i]
    path = [int(best.argmax())]
    for i in range(n_words - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def keep_single_values(entities: list[Entity], single: Collection[str]) -> list[Entity]:
    """At most one entity of each label in ``single``: its most confident (the first on a tie);
    other labels and the order of what is kept are left as they are."""
    if not single:
        return entities
    best: dict[str, int] = {}
    for i, entity in enumerate(entities):
        if entity.label not in single:
            continue
        held = best.get(entity.label)
        if held is None or (entity.confidence or 0.0) > (entities[held].confidence or 0.0):
            best[entity.label] = i
    keep = set(best.values())
    return [e for i, e in enumerate(entities) if e.label not in single or i in keep]


def single_value_labels(
    examples: Iterable[TrainingExample], prior: Collection[str] = ()
) -> list[str]:
    """Entity labels that occur at most once in every document of ``examples`` (counted from
    their ``B-`` tags), plus those of ``prior`` (a parent's verdict) that ``examples`` never
    show; sorted."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for example in examples:
        counts: dict[str, int] = {}
        for tag in example.word_tags:
            if tag.startswith("B-"):
                counts[tag[2:]] = counts.get(tag[2:], 0) + 1
        seen.update(counts)
        repeated.update(label for label, n in counts.items() if n > 1)
    return sorted((seen - repeated) | (set(prior) - seen))

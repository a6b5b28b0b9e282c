"""Labeled entities placed on extracted words: one BIO tag per word.

An entity with a box takes the words lying mostly inside it; one without, or whose box covers
no word, is found by its normalized text on its page (near the box when it has one).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from selfimprove_assets.lib.types import BBox, Entity, Word

logger = logging.getLogger(__name__)


UNALIGNED_REASONS = (
    "no_words_on_page",
    "box_words_taken",
    "box_cuts_words",
    "box_covers_no_word",
    "text_not_found",
    "empty_text",
)
"""Why an entity matched no words (``AlignmentResult.reasons``).

``no_words_on_page``: the extraction found no word on the entity's page at all.
``box_words_taken``: the words inside the entity's box already belong to earlier entities.
``box_cuts_words``: words overlap the box but none lies mostly inside it, and the text is not
near it (OCR merged the field with its neighbour, or the box is drawn tight).
``box_covers_no_word``: no word touches the box and the text is not near it (OCR missed it).
``text_not_found``: an entity without a box whose text is not among the page's free words.
``empty_text``: an entity without a box whose text has no letter or digit to look for.
"""


@dataclass
class AlignmentResult:
    """One BIO tag per word, the entities that matched no words, and why each did not.

    ``reasons[i]`` is the reason (one of ``UNALIGNED_REASONS``) for ``unaligned[i]``.
    """

    tags: list[str]
    unaligned: list[Entity]
    spans: list[tuple[Entity, list[int]]]
    reasons: list[str] = field(default_factory=list)


def normalize_token(text: str) -> str:
    """Lowercase letters and digits only, so "Smith," matches "smith" and "$1,234" "1234"."""
    return re.sub(r"[\W_]+", "", text.casefold())


def _area(box: BBox) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _inside_fraction(word: BBox, target: BBox) -> float:
    x0, y0 = max(word[0], target[0]), max(word[1], target[1])
    x1, y1 = min(word[2], target[2]), min(word[3], target[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / max(1, _area(word))


def _match_box(words: Sequence[Word], free: list[int], entity: Entity) -> list[int]:
    assert entity.bbox is not None
    return [i for i in free if _inside_fraction(words[i].bbox, entity.bbox) >= 0.5]


TEXT_NEAR_BOX = 20
"""How far (0-1000 units) outside its box an entity's text may be found when no word lies in it.

A box that covers no word usually means OCR missed or split the word there; the same text
elsewhere on the page is another field's ("8", "Bright", "Date:" recur on forms), and taking it
tags the wrong words. On 40 FUNSD forms 32 of 54 such page-wide matches were far from the box.
"""


def _near_box(words: Sequence[Word], free: list[int], box: BBox, margin: int) -> list[int]:
    x0, y0, x1, y1 = box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin
    return [
        i
        for i in free
        if words[i].bbox[0] < x1
        and words[i].bbox[2] > x0
        and words[i].bbox[1] < y1
        and words[i].bbox[3] > y0
    ]


def _match_text(words: Sequence[Word], free: list[int], entity: Entity, fuzzy: float) -> list[int]:
    """Find the free words whose concatenated normalized text spells the entity text."""
    target = normalize_token(entity.text)
    if not target:
        return []
    best: tuple[float, list[int]] = (0.0, [])
    for start, first in enumerate(free):
        if not normalize_token(words[first].text):
            continue
        joined, span = "", []
        for i in free[start:]:
            if span and i != span[-1] + 1:  # words must be consecutive in reading order
                break
            joined += normalize_token(words[i].text)
            span.append(i)
            if joined == target:
                return span
            if len(joined) >= len(target):
                break
        if fuzzy < 1.0 and joined:
            score = SequenceMatcher(None, joined, target).ratio()
            if score >= fuzzy and score > best[0]:
                best = (score, list(span))
    return best[1]


def _unaligned_reason(
    words: Sequence[Word], on_page: list[int], free: list[int], entity: Entity
) -> str:
    if not on_page:
        return "no_words_on_page"
    if entity.bbox is not None:
        free_set = set(free)
        taken = [i for i in on_page if i not in free_set]
        if _match_box(words, taken, entity):
            return "box_words_taken"
        if _near_box(words, free, entity.bbox, 0):
            return "box_cuts_words"
        return "box_covers_no_word"
    return "text_not_found" if normalize_token(entity.text) else "empty_text"


def align_entities(
    words: Sequence[Word], entities: Sequence[Entity], fuzzy: float = 0.85
) -> AlignmentResult:
    """Give each word a BIO tag from the entities covering it.

    An entity with a box takes the free words on its page that lie mostly inside the box; one
    without takes the first free run of words on its page whose normalized text spells it
    (``fuzzy`` allows OCR slips; 1.0 means exact only). An entity whose box covers no word
    looks for its text only among the words touching the box or within ``TEXT_NEAR_BOX`` of
    it. Each entity that matches nothing is listed in ``unaligned`` with its reason in
    ``reasons``.
    """
    tags = ["O"] * len(words)
    unaligned: list[Entity] = []
    reasons: list[str] = []
    spans: list[tuple[Entity, list[int]]] = []
    by_page: dict[int, list[int]] = defaultdict(list)
    for i, word in enumerate(words):
        by_page[word.page].append(i)
    for entity in entities:
        on_page = by_page.get(entity.page, [])
        free = [i for i in on_page if tags[i] == "O"]
        matched = _match_box(words, free, entity) if entity.bbox is not None else []
        if not matched:
            near = (
                free if entity.bbox is None else _near_box(words, free, entity.bbox, TEXT_NEAR_BOX)
            )
            matched = _match_text(words, near, entity, fuzzy)
        if not matched:
            unaligned.append(entity)
            reasons.append(_unaligned_reason(words, on_page, free, entity))
            continue
        for n, i in enumerate(sorted(matched)):
            tags[i] = f"{'B' if n == 0 else 'I'}-{entity.label}"
        spans.append((entity, sorted(matched)))
    if unaligned:
        logger.debug("%d of %d entities matched no words", len(unaligned), len(entities))
    return AlignmentResult(tags=tags, unaligned=unaligned, spans=spans, reasons=reasons)


def alignment_summary(
    results: Iterable[AlignmentResult | tuple[Sequence[Word], Sequence[Entity]]],
    fuzzy: float = 0.85,
) -> dict[str, dict[str, Any]]:
    """Per label: ``{"aligned": n, "total": n, "reasons": {reason: n}}``, labels sorted.

    ``results`` are alignment results, or (words, entities) pairs to align here first (with
    ``fuzzy``). Reasons count the entities of that label that matched no words.
    """
    summary: dict[str, dict[str, Any]] = {}

    def entry(label: str) -> dict[str, Any]:
        return summary.setdefault(label, {"aligned": 0, "total": 0, "reasons": {}})

    for item in results:
        result = item if isinstance(item, AlignmentResult) else align_entities(*item, fuzzy=fuzzy)
        for entity, _ in result.spans:
            row = entry(entity.label)
            row["aligned"] += 1
            row["total"] += 1
        reasons = result.reasons or ["unknown"] * len(result.unaligned)
        for entity, reason in zip(result.unaligned, reasons, strict=True):
            row = entry(entity.label)
            row["total"] += 1
            row["reasons"][reason] = row["reasons"].get(reason, 0) + 1
    return {label: summary[label] for label in sorted(summary)}

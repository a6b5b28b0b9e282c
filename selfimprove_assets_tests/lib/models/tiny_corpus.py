"""A small, learnable synthetic corpus for model tests (no documents library needed).

Each document type has its own title words and entity set; entities follow a cue word
("total", "patient", ...) at a stable position, so a tiny model learns them in a few epochs.
"""

from __future__ import annotations

import random

from selfimprove_assets.lib.types import BBox, TrainingExample

FILLER = (
    "the of and service for with account please note this page was issued by our office".split()
)
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
SURNAMES = ["smith", "jones", "brown", "miller", "davis", "wilson"]
AMOUNTS = ["12.50", "99.00", "7.25", "310.40", "45.10", "18.75"]
DATES = ["2024-01-02", "2023-11-30", "2024-06-15", "2022-03-09"]

TYPES: dict[str, tuple[list[str], list[str]]] = {
    "invoice": (["invoice", "billing"], ["total", "date"]),
    "receipt": (["receipt", "purchase"], ["total"]),
    "medical": (["clinic", "visit"], ["name", "date"]),
}
CUES = {"total": "total", "date": "dated", "name": "patient"}


def vocabulary() -> list[str]:
    words = set(FILLER + NAMES + SURNAMES + AMOUNTS + DATES + list(CUES.values()))
    for titles, _ in TYPES.values():
        words.update(titles)
    words.update(["new", "field", "code", "ref", "x9"])
    return sorted(words)


def _value(label: str, rng: random.Random) -> list[str]:
    if label == "total":
        return [rng.choice(AMOUNTS)]
    if label == "date":
        return [rng.choice(DATES)]
    return [rng.choice(NAMES), rng.choice(SURNAMES)]


def make_example(
    doc_id: str,
    doc_type: str,
    rng: random.Random,
    *,
    n_filler: int = 12,
    pages: int = 1,
    extra_label: str | None = None,
) -> TrainingExample:
    titles, labels = TYPES[doc_type]
    labels = labels + ([extra_label] if extra_label else [])
    words: list[str] = list(titles)
    tags: list[str] = ["O"] * len(titles)
    for label in labels:
        words += [rng.choice(FILLER) for _ in range(rng.randint(1, 3))]
        tags += ["O"] * (len(words) - len(tags))
        cue = CUES.get(label, "ref")
        value = _value(label, rng) if label in CUES else ["code", "x9"]
        words.append(cue)
        tags.append("O")
        words += value
        tags += [f"B-{label}"] + [f"I-{label}"] * (len(value) - 1)
    for _ in range(n_filler):
        words.append(rng.choice(FILLER))
        tags.append("O")
    boxes: list[BBox] = []
    page_of: list[int] = []
    per_page = max(1, len(words) // pages + 1)
    for i in range(len(words)):
        page, pos = divmod(i, per_page)
        row, col = divmod(pos, 6)
        x0, y0 = 40 + col * 150, 50 + row * 40
        boxes.append((x0, y0, x0 + 60 + rng.randint(0, 20), y0 + 20))
        page_of.append(page)
    return TrainingExample(doc_id, doc_type, words, boxes, page_of, tags, "train")


def tagged_example(doc_id: str, doc_type: str, tags: list[str]) -> TrainingExample:
    """A one-page example of ``doc_type`` with one word ``w<i>`` per tag in ``tags``."""
    n = len(tags)
    return TrainingExample(
        document_id=doc_id,
        doc_type=doc_type,
        words=[f"w{i}" for i in range(n)],
        boxes=[(0, 0, 10, 10)] * n,
        pages=[0] * n,
        word_tags=tags,
    )


def make_corpus(
    n_per_type: int = 6, seed: int = 0, *, extra_label: str | None = None
) -> list[TrainingExample]:
    rng = random.Random(seed)
    examples = []
    for doc_type in TYPES:
        for i in range(n_per_type):
            label = extra_label if (extra_label and doc_type == "invoice") else None
            examples.append(
                make_example(f"{doc_type}-{seed}-{i}", doc_type, rng, extra_label=label)
            )
    return examples

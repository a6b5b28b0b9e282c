"""Word tags to entities, as plain data: no torch, so reading a dataset's truth stays light.

``decode_entities`` turns BIO tags per word into entities (the extractor's decoders end here);
``example_entities`` gives the entities a training example's word tags encode.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfimprove_assets.lib.types import OUTSIDE, Entity, TrainingExample, Word, union_box


def decode_entities(
    words: Sequence[Word], tags: Sequence[str], scores: Sequence[float] | None = None
) -> list[Entity]:
    """BIO tags per word -> entities. An ``I-X`` without an open ``X`` starts a new entity,
    and an entity never spans two pages."""
    entities: list[Entity] = []
    current: list[int] = []
    current_label: str | None = None

    def close() -> None:
        if current and current_label is not None:
            members = [words[i] for i in current]
            confidence = None
            if scores is not None:
                confidence = float(sum(scores[i] for i in current) / len(current))
            entities.append(
                Entity(
                    label=current_label,
                    text=" ".join(w.text for w in members),
                    page=members[0].page,
                    bbox=union_box([w.bbox for w in members]),
                    confidence=confidence,
                )
            )

    for i, tag in enumerate(tags):
        prefix, label = (tag[:2], tag[2:]) if tag != OUTSIDE else ("", None)
        continues = (
            prefix == "I-"
            and label == current_label
            and current
            and words[current[-1]].page == words[i].page
        )
        if continues:
            current.append(i)
            continue
        close()
        current, current_label = ([i], label) if label is not None else ([], None)
    close()
    return entities


def example_words(example: TrainingExample) -> list[Word]:
    return [
        Word(text, (int(b[0]), int(b[1]), int(b[2]), int(b[3])), int(page))
        for text, b, page in zip(example.words, example.boxes, example.pages, strict=True)
    ]


def example_entities(example: TrainingExample) -> list[Entity]:
    """The ground-truth entities encoded by an example's word tags."""
    return decode_entities(example_words(example), example.word_tags)

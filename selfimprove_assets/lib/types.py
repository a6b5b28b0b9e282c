"""Data shapes shared by documents, models, the store and the API, and their small rules.

These are plain dataclasses so that `lib/` stays free of Dagster and of the ORM. Boxes are
always in page coordinates normalized to 0-1000 (the LayoutLM convention), as
``(x0, y0, x1, y1)`` integers; :func:`union_box` joins boxes. Word tags follow the BIO scheme
(``O``, ``B-<label>``, ``I-<label>``): :func:`labels_from_tags` reads the entity labels out of
them and :func:`bio_labels` spells the tags of some labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

BBox = tuple[int, int, int, int]
Coordinate = TypeVar("Coordinate", int, float)


def union_box(
    boxes: Sequence[tuple[Coordinate, Coordinate, Coordinate, Coordinate]],
) -> tuple[Coordinate, Coordinate, Coordinate, Coordinate]:
    """The smallest box holding every one of ``boxes`` (0-1000 page boxes or pixel boxes)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


OUTSIDE = "O"  # the word tag of a word outside every entity


def bio_labels(entity_labels: Sequence[str]) -> list[str]:
    """The word tags of some entity labels: ``O`` then B-/I- per label, sorted (the
    extractor's classes)."""
    names = sorted({label for label in entity_labels if label and label != OUTSIDE})
    return [OUTSIDE] + [f"{p}-{name}" for name in names for p in ("B", "I")]


def labels_from_tags(tag_lists: Sequence[Sequence[str]]) -> list[str]:
    """Entity label names found in word-level BIO tags; rejects tags that are not BIO."""
    names: set[str] = set()
    for tags in tag_lists:
        for tag in tags:
            if tag == OUTSIDE:
                continue
            if len(tag) < 3 or tag[:2] not in ("B-", "I-"):
                raise ValueError(f"word tag {tag!r} is not BIO (O, B-<label>, I-<label>)")
            names.add(tag[2:])
    return sorted(names)


MODEL_TYPES: tuple[str, ...] = ("classifier", "extractor")


class ModelType(StrEnum):
    CLASSIFIER = "classifier"
    EXTRACTOR = "extractor"


class RetrainState(StrEnum):
    IDLE = "IDLE"
    TRIGGERED = "TRIGGERED"
    INPROGRESS = "INPROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class FieldOutcome(StrEnum):
    """What a reviewer did to one predicted field when committing."""

    UNCHANGED = "unchanged"
    MODIFIED = "modified"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class Word:
    text: str
    bbox: BBox
    page: int = 0


@dataclass
class PageWords:
    """The words of one document, in reading order, across all of its pages."""

    words: list[Word]
    page_count: int
    ocr_pages: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": [[w.text, list(w.bbox), w.page] for w in self.words],
            "page_count": self.page_count,
            "ocr_pages": list(self.ocr_pages),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageWords:
        words = [
            Word(t, (int(b[0]), int(b[1]), int(b[2]), int(b[3])), int(p))
            for t, b, p in data["words"]
        ]
        return cls(
            words=words,
            page_count=int(data["page_count"]),
            ocr_pages=list(data.get("ocr_pages", [])),
        )


@dataclass
class Entity:
    """A labeled or predicted entity. ``bbox`` is optional in labels, always set in predictions."""

    label: str
    text: str
    page: int = 0
    bbox: BBox | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bbox"] = list(self.bbox) if self.bbox is not None else None
        if self.confidence is None:
            data.pop("confidence")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entity:
        bbox = data.get("bbox")
        return cls(
            label=str(data["label"]),
            text=str(data["text"]),
            page=int(data.get("page", 0) or 0),
            bbox=tuple(int(v) for v in bbox) if bbox is not None else None,  # type: ignore[arg-type]
            confidence=float(data["confidence"]) if data.get("confidence") is not None else None,
        )


@dataclass
class Prediction:
    """What the default models said about one document."""

    doc_type: str | None
    doc_type_confidence: float | None
    entities: list[Entity]
    classifier_version: str | None = None
    extractor_version: str | None = None


@dataclass
class TrainingExample:
    """One document ready for the featurizer: words with boxes, its type and word-level BIO tags.

    ``word_tags`` has one tag per word (``O``, ``B-<label>``, ``I-<label>``). It is produced by
    aligning labeled entities to page words (documents) or from verified feedback (curation).

    ``entities`` are the labeled (or reviewer-verified) entities as written, including those
    the alignment could not place on any word: they are the truth every score counts against.
    ``None`` means the example does not carry them (datasets written before they were kept, or
    a feedback row without an entity review); scores then fall back to the tagged words.
    """

    document_id: str
    doc_type: str
    words: list[str]
    boxes: list[BBox]
    pages: list[int]
    word_tags: list[str]
    source: str = "train"
    entities: list[Entity] | None = None

"""What the importers share: box scaling, finding and copying images, and the summary they
report."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfimprove_assets.lib.documents.labels import LabeledDocument, write_labels
from selfimprove_assets.lib.types import BBox, Entity

FILES_DIR = "files"


class InterchangeError(ValueError):
    """Input that cannot be converted; the message names the file and the problem."""


@dataclass
class ImportSummary:
    out_dir: Path
    documents: int = 0
    entities: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per dropped document or entity, with the reason."""

    def to_dict(self) -> dict[str, object]:
        return {
            "out_dir": str(self.out_dir),
            "documents": self.documents,
            "entities": self.entities,
            "skipped": len(self.skipped),
            "skipped_examples": self.skipped[:20],
        }


def clip_box(x0: float, y0: float, x1: float, y1: float) -> BBox:
    """Round a 0-1000 box, order its corners and clip it to the page."""

    def clip(v: float) -> int:
        return max(0, min(1000, round(v)))

    return (
        clip(min(x0, x1)),
        clip(min(y0, y1)),
        clip(max(x0, x1)),
        clip(max(y0, y1)),
    )


def pixels_to_thousandths(box: tuple[float, float, float, float], width: int, height: int) -> BBox:
    """A pixel box ``[x0, y0, x1, y1]`` on a ``width`` x ``height`` image, in 0-1000."""
    if width <= 0 or height <= 0:
        raise InterchangeError(f"image size {width}x{height} has no pixels")
    x0, y0, x1, y1 = box
    return clip_box(x0 * 1000 / width, y0 * 1000 / height, x1 * 1000 / width, y1 * 1000 / height)


def copy_into(src: Path, out_dir: Path, name: str) -> Path:
    """Copy ``src`` to ``out_dir/files/name`` (byte for byte) and return the new path."""
    target = out_dir / FILES_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return target


def find_image(folder: Path, stem: str, suffixes: Sequence[str]) -> Path | None:
    """The first ``folder/<stem><suffix>`` that is a file, trying ``suffixes`` in order."""
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def copied_document(
    image: Path, out_dir: Path, document_id: str, doc_type: str, entities: list[Entity]
) -> LabeledDocument:
    """A converted document: its image copied into ``out_dir`` (named by the id's safe stem,
    the suffix lowercased) with its type and entities."""
    file = copy_into(image, out_dir, f"{safe_stem(document_id)}{image.suffix.lower()}")
    return LabeledDocument(document_id=document_id, file=file, doc_type=doc_type, entities=entities)


def finish(out_dir: Path, docs: list[LabeledDocument], summary: ImportSummary) -> ImportSummary:
    if not docs:
        raise InterchangeError("nothing to write: no document could be converted")
    ids = [d.document_id for d in docs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InterchangeError(f"duplicate document ids: {', '.join(duplicates[:10])}")
    write_labels(out_dir, docs)
    summary.documents = len(docs)
    summary.entities = sum(len(d.entities) for d in docs)
    return summary


def safe_stem(text: str) -> str:
    """A file-name-safe version of an id (letters, digits, ``-``, ``_``, ``.``)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text).strip("._")
    return cleaned[:120] or "document"

"""The labeled-corpus contract: ``labels.jsonl`` beside the files, read and written.

Types and labels come from the data; nothing here knows which ones exist. Reading validates
every record and names the file and line of each problem; a box slightly off the page is
clamped onto it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.types import BBox, Entity

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.jsonl"
SPLITS_FILE = "splits.json"


class CorpusError(ValueError):
    """A labeled folder that breaks the contract; the message names the file and line."""


@dataclass
class LabeledDocument:
    document_id: str
    file: Path
    doc_type: str
    entities: list[Entity] = field(default_factory=list)


# Label boxes are in page coordinates normalized to 0-1000. Annotation tools and rounding
# put some a little past the edge (FUNSD has 1009.8); a coordinate at most this far outside the
# page (2% of it) is clamped onto the page with a warning, one further out is an error.
BOX_TOLERANCE = 20.0


def _clamp_coordinate(value: Any) -> float | None:
    """The coordinate on the 0-1000 page, or None when it is not a number near the page."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    if not -BOX_TOLERANCE <= value <= 1000 + BOX_TOLERANCE:
        return None
    return min(1000.0, max(0.0, float(value)))


def clamp_box(bbox: Any) -> tuple[float, float, float, float] | None:
    """``[x0, y0, x1, y1]`` clamped onto the 0-1000 page, or None when it is not four numbers
    within :data:`BOX_TOLERANCE` of the page with ``x0 <= x1`` and ``y0 <= y1`` (compared as
    written: clamping must not mend an inverted box). Labels and given words share this rule."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        return None
    values = [_clamp_coordinate(v) for v in bbox]
    if any(v is None for v in values) or bbox[0] > bbox[2] or bbox[1] > bbox[3]:
        return None
    x0, y0, x1, y1 = (float(v) for v in values if v is not None)
    return x0, y0, x1, y1


def rounded_box(box: tuple[float, float, float, float]) -> BBox:
    return round(box[0]), round(box[1]), round(box[2]), round(box[3])


def _parse_entity(raw: Any, where: str, warnings: list[str] | None = None) -> Entity:
    """One entity of a record; a box slightly off the page is clamped (noted in ``warnings``)."""
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: each entity must be an object, got {type(raw).__name__}")
    label, text = raw.get("label"), raw.get("text")
    if not isinstance(label, str) or not label.strip():
        raise CorpusError(f"{where}: entity 'label' must be a non-empty string")
    if not isinstance(text, str):
        raise CorpusError(f"{where}: entity 'text' must be a string (label {label!r})")
    page = raw.get("page", 0)
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        raise CorpusError(f"{where}: entity 'page' must be an integer >= 0 (label {label!r})")
    bbox = raw.get("bbox")
    box: BBox | None = None
    if bbox is not None:
        clamped = clamp_box(bbox)
        if clamped is None:
            raise CorpusError(
                f"{where}: entity 'bbox' must be [x0, y0, x1, y1] within 0-1000 (up to "
                f"{BOX_TOLERANCE:g} outside is clamped) with x0<=x1 and y0<=y1 "
                f"(label {label!r}), got {bbox!r}"
            )
        if list(clamped) != bbox and warnings is not None:
            warnings.append(
                f"{where}: bbox {bbox!r} of {label!r} clamped onto the page as "
                f"{[round(v) for v in clamped]!r}"
            )
        box = rounded_box(clamped)
    return Entity(label=label, text=text, page=page, bbox=box)


def _resolve_inside(root: Path, relative: Any, where: str) -> Path:
    """``root / relative`` when it names a regular file inside the corpus folder.

    The path is checked as written: absolute paths and ``..`` components are refused (so a
    labels file cannot reach outside its folder), but a symlink inside the folder may point
    anywhere as long as its target is a regular file (a corpus of links into a shared dataset).
    The returned path is the one inside the folder, not the link's target.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise CorpusError(f"{where}: 'file' must be a non-empty relative path")
    if Path(relative).is_absolute() or Path(relative).drive:
        raise CorpusError(f"{where}: 'file' must be relative to the folder, got {relative!r}")
    parts = Path(relative).parts
    if ".." in parts:
        raise CorpusError(
            f"{where}: 'file' {relative!r} points outside the corpus folder ('..' is not allowed)"
        )
    path = root.joinpath(*parts)
    if path.is_file():
        return path
    if path.is_symlink():
        target = os.readlink(path)
        if not path.exists():
            raise CorpusError(f"{where}: file {relative!r} is a broken symlink (to {target!r})")
        raise CorpusError(f"{where}: file {relative!r} is a symlink to {target!r}, not a file")
    if path.exists():
        raise CorpusError(f"{where}: file {relative!r} is not a regular file")
    raise CorpusError(f"{where}: file {relative!r} does not exist")


@dataclass
class CorpusProblem:
    """A labels.jsonl record that cannot be used: its line, what it names, and why."""

    line: int
    reason: str
    document_id: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LabelsScan:
    """``labels.jsonl`` read leniently: the usable documents, the records set aside (each with
    its reason), and warnings about records kept with a fix (a box clamped onto the page)."""

    path: Path
    documents: list[LabeledDocument]
    problems: list[CorpusProblem]
    warnings: list[str]


def scan_labels(folder: Path) -> LabelsScan:
    """Read ``labels.jsonl``, setting aside each record with a problem instead of failing.

    Raises :class:`CorpusError` only when the file itself is missing or unreadable. A record is
    set aside for bad JSON, a missing or invalid field, a bad entity, a file that does not
    exist (or is no regular file, or lies outside the folder), or a repeated ``document_id``
    (the first one is kept).
    """
    root = Path(folder).resolve()
    path = root / LABELS_FILE
    if not path.is_file():
        raise CorpusError(f"{root}: no {LABELS_FILE} found (see the corpus contract in DESIGN.md)")
    docs: list[LabeledDocument] = []
    problems: list[CorpusProblem] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8") as handle:
            lines = list(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot be read ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            problems.append(CorpusProblem(number, reason))
            continue
        doc_id = record.get("document_id") if isinstance(record, dict) else None
        file = record.get("file") if isinstance(record, dict) else None
        problem = partial(
            CorpusProblem,
            number,
            document_id=doc_id if isinstance(doc_id, str) else None,
            file=file if isinstance(file, str) else None,
        )
        record_warnings: list[str] = []
        try:
            doc = _parse_record(record, root, where, record_warnings)
        except CorpusError as exc:
            problems.append(problem(str(exc)))
            continue
        if doc.document_id in seen:
            first = seen[doc.document_id]
            reason = f"{where}: duplicate document_id {doc.document_id!r} (first on line {first})"
            problems.append(problem(reason))
            continue
        seen[doc.document_id] = number
        warnings.extend(record_warnings)
        docs.append(doc)
    return LabelsScan(path=path, documents=docs, problems=problems, warnings=warnings)


def read_labels(folder: Path, *, strict: bool = True) -> list[LabeledDocument]:
    """Read and validate ``labels.jsonl``; every problem is reported with its line number.

    ``strict`` (the default) raises :class:`CorpusError` listing every bad record. With
    ``strict=False`` the bad records are skipped (logged) and the rest returned; it raises only
    when the file is missing or no record is usable. Boxes slightly off the page are clamped
    either way (see :data:`BOX_TOLERANCE`). :func:`scan_labels` returns the skipped records too.
    """
    scan = scan_labels(folder)
    for warning in scan.warnings:
        logger.warning("%s", warning)
    if scan.problems and (strict or not scan.documents):
        reasons = [p.reason for p in scan.problems]
        shown = "\n".join(reasons[:20])
        more = f"\n... and {len(reasons) - 20} more" if len(reasons) > 20 else ""
        usable = "" if strict else " and no usable document"
        raise CorpusError(f"{len(reasons)} problem(s){usable} in {scan.path}:\n{shown}{more}")
    for problem in scan.problems:
        logger.warning("skipped: %s", problem.reason)
    if not scan.documents:
        raise CorpusError(f"{scan.path}: no documents")
    return scan.documents


def _parse_record(
    record: Any, root: Path, where: str, warnings: list[str] | None = None
) -> LabeledDocument:
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: each line must be a JSON object")
    missing = [k for k in ("document_id", "file", "doc_type") if k not in record]
    if missing:
        raise CorpusError(f"{where}: missing required field(s) {', '.join(missing)}")
    doc_id, doc_type = record["document_id"], record["doc_type"]
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise CorpusError(f"{where}: 'document_id' must be a non-empty string")
    if not isinstance(doc_type, str) or not doc_type.strip():
        raise CorpusError(f"{where}: 'doc_type' must be a non-empty string")
    entities = record.get("entities", [])
    if not isinstance(entities, list):
        raise CorpusError(f"{where}: 'entities' must be a list")
    return LabeledDocument(
        document_id=doc_id,
        file=_resolve_inside(root, record["file"], where),
        doc_type=doc_type,
        entities=[
            _parse_entity(e, f"{where}: entity {i}", warnings) for i, e in enumerate(entities)
        ],
    )


def _relative_to(file: Path, folder: Path) -> Path:
    """``file`` relative to ``folder``; a symlink inside the folder stays the link, not its
    target (read_labels returns such paths), so the path is tried as written first."""
    for base in (folder.resolve(), Path(os.path.abspath(folder))):
        if Path(os.path.abspath(file)).is_relative_to(base):
            return Path(os.path.abspath(file)).relative_to(base)
    return file.resolve().relative_to(folder.resolve())


def label_record(doc: LabeledDocument, folder: Path) -> dict[str, Any]:
    """The contract's JSON object for one document, with ``file`` relative to ``folder``."""
    file = Path(doc.file)
    relative = _relative_to(file, Path(folder)) if file.is_absolute() else file
    return {
        "document_id": doc.document_id,
        "file": relative.as_posix(),
        "doc_type": doc.doc_type,
        "entities": [
            {"label": e.label, "text": e.text, "page": e.page}
            | ({"bbox": list(e.bbox)} if e.bbox is not None else {})
            for e in doc.entities
        ],
    }


def write_labels(folder: Path, docs: Sequence[LabeledDocument]) -> Path:
    """Write ``labels.jsonl`` atomically (a reader never sees half a file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(label_record(d, folder), ensure_ascii=False) for d in docs]
    target = folder / LABELS_FILE
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".labels-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, target)
    return target

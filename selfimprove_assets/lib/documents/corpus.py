"""The labeled-corpus contract: ``labels.jsonl`` (+ optional ``splits.json``) beside the files.

Types and labels come from the data; nothing here knows which ones exist. Entities become
word-level BIO tags by aligning them to extracted words: by box overlap when the label has a
box, otherwise by matching the normalized text on the entity's page.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import partial
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.types import BBox, Entity, PageWords, TrainingExample, Word

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
        values = [_clamp_coordinate(v) for v in bbox] if isinstance(bbox, list) else []
        clamped = [v for v in values if v is not None]
        if (
            len(clamped) != 4
            or len(values) != 4
            or bbox[0] > bbox[2]  # compared as written: clamping must not mend an inverted box
            or bbox[1] > bbox[3]
        ):
            raise CorpusError(
                f"{where}: entity 'bbox' must be [x0, y0, x1, y1] within 0-1000 (up to "
                f"{BOX_TOLERANCE:g} outside is clamped) with x0<=x1 and y0<=y1 "
                f"(label {label!r}), got {bbox!r}"
            )
        if clamped != bbox and warnings is not None:
            warnings.append(
                f"{where}: bbox {bbox!r} of {label!r} clamped onto the page as "
                f"{[round(v) for v in clamped]!r}"
            )
        box = (round(clamped[0]), round(clamped[1]), round(clamped[2]), round(clamped[3]))
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
        return {
            "line": self.line,
            "document_id": self.document_id,
            "file": self.file,
            "reason": self.reason,
        }


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


def read_splits(folder: Path) -> dict[str, list[str]] | None:
    """Read ``splits.json`` if the folder has one; None when it does not."""
    path = Path(folder) / SPLITS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k, []), list) and all(isinstance(i, str) for i in data.get(k, []))
        for k in ("train", "test")
    ):
        raise CorpusError(f'{path}: expected {{"train": [ids], "test": [ids]}}')
    return {"train": list(data.get("train", [])), "test": list(data.get("test", []))}


def split_corpus(
    ids: Sequence[str],
    doc_types: Sequence[str],
    test_fraction: float = 0.2,
    seed: int = 0,
    splits: dict[str, list[str]] | None = None,
) -> tuple[list[str], list[str]]:
    """Split ids into (train, test), stratified by type, or as ``splits`` says when given.

    With ``splits``, ids it does not mention go to train (logged); ids it names that are not
    in the corpus, or that it puts on both sides, are errors.
    """
    if len(ids) != len(doc_types):
        raise ValueError(f"{len(ids)} ids but {len(doc_types)} doc types")
    if splits is not None:
        train, test = set(splits.get("train", [])), set(splits.get("test", []))
        if both := sorted(train & test):
            raise CorpusError(f"splits.json puts {len(both)} id(s) in train and test: {both[:5]}")
        if unknown := sorted((train | test) - set(ids)):
            raise CorpusError(f"splits.json names {len(unknown)} unknown id(s): {unknown[:5]}")
        unassigned = [i for i in ids if i not in train and i not in test]
        if unassigned:
            logger.warning("%d id(s) not in splits.json go to train", len(unassigned))
        return [i for i in ids if i not in test], [i for i in ids if i in test]
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    by_type: dict[str, list[str]] = defaultdict(list)
    for doc_id, doc_type in zip(ids, doc_types, strict=True):
        by_type[doc_type].append(doc_id)
    rng = random.Random(seed)
    test_ids: set[str] = set()
    for doc_type in sorted(by_type):
        members = sorted(by_type[doc_type])
        rng.shuffle(members)
        n_test = round(len(members) * test_fraction)
        if test_fraction > 0 and len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test_ids.update(members[:n_test])
    return [i for i in ids if i not in test_ids], [i for i in ids if i in test_ids]


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


def to_training_example(
    document_id: str,
    doc_type: str,
    page_words: PageWords,
    tags: Sequence[str],
    source: str = "train",
) -> TrainingExample:
    """Package aligned words for the featurizer; the tags must be one per word."""
    if len(tags) != len(page_words.words):
        raise ValueError(f"{document_id}: {len(tags)} tags for {len(page_words.words)} words")
    return TrainingExample(
        document_id=document_id,
        doc_type=doc_type,
        words=[w.text for w in page_words.words],
        boxes=[w.bbox for w in page_words.words],
        pages=[w.page for w in page_words.words],
        word_tags=list(tags),
        source=source,
    )

"""Given words: a page's words from the team's own OCR instead of ours (bring your own OCR).

A labeled folder may carry ``words.jsonl`` beside ``labels.jsonl``, one object per page:
``{"document_id": str, "page": int, "words": [{"text": str, "bbox": [x0, y0, x1, y1]}]}``
(0-1000 boxes, clamped onto the page like the labels' boxes when a little outside). Those pages
are not read (no text layer, no OCR); their words are used in the order given. An upload's
``words`` part has the same page objects without ``document_id``.

Reading is lenient per document: a line with a problem (bad JSON, an unknown id, a page given
twice, empty text, a box far off the page) sets that document aside with one error naming it
and the problem; the other documents' words are used. A page beyond the file's last page is
found when the file is counted (:meth:`GivenWords.page_words`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.documents.labels import (
    BOX_TOLERANCE,
    CorpusError,
    CorpusProblem,
    clamp_box,
    rounded_box,
)
from selfimprove_assets.lib.types import PageWords, Word

WORDS_FILE = "words.jsonl"
_KEY_PREFIX = b"selfimprove given words 1\0"
_ID_IN_BROKEN_LINE = re.compile(r'"document_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


class GivenWordsError(CorpusError):
    """Given words that cannot be used; the message names the document (or upload part) and
    the problem."""


@dataclass
class GivenWords:
    """One document's given words by page, each page's words in the order given. ``name`` is
    how errors name them (``words.jsonl:3: document 'a'``, or ``words`` for an upload)."""

    name: str
    pages: dict[int, list[Word]] = field(default_factory=dict)

    def key(self, content_hash: str) -> str:
        """The page-store key of these words over the file with ``content_hash``: never the
        file's own hash (its extracted words), and a different key for different words."""
        digest = hashlib.sha256(_KEY_PREFIX + content_hash.encode("ascii") + b"\0")
        pages = [
            [page, [[w.text, list(w.bbox)] for w in words]]
            for page, words in sorted(self.pages.items())
        ]
        digest.update(json.dumps(pages, ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()

    def to_part(self) -> str:
        """These words as an upload's ``words`` part (the API's JSON list of pages)."""
        return json.dumps(
            [
                {"page": page, "words": [{"text": w.text, "bbox": list(w.bbox)} for w in words]}
                for page, words in sorted(self.pages.items())
            ],
            ensure_ascii=False,
        )

    def missing_pages(self, page_count: int) -> list[int]:
        """The file's pages these words do not give (they are read as usual)."""
        return [p for p in range(page_count) if p not in self.pages]

    def page_words(self, page_count: int, extracted: PageWords | None = None) -> PageWords:
        """The document's words: the given pages as given, the others from ``extracted`` (the
        file read as usual; needed only when some page is not given). Raises
        :class:`GivenWordsError` for a page the file does not have."""
        beyond = sorted(p for p in self.pages if p >= page_count)
        if beyond:
            raise GivenWordsError(
                f"{self.name}: words for page {beyond[0]} but the file has {page_count} "
                "page(s) (pages count from 0)"
            )
        missing = self.missing_pages(page_count)
        if missing and extracted is None:
            raise ValueError(f"{self.name}: pages {missing} are not given and were not read")
        words: list[Word] = []
        for page in range(page_count):
            if page in self.pages:
                words += [Word(w.text, w.bbox, page) for w in self.pages[page]]
            elif extracted is not None:
                words += [w for w in extracted.words if w.page == page]
        ocr = [p for p in (extracted.ocr_pages if extracted else []) if p not in self.pages]
        return PageWords(words=words, page_count=page_count, ocr_pages=ocr)


def parse_page(raw: Any, where: str) -> tuple[int, list[Word], int]:
    """One page object (``{"page": int, "words": [...]}``) → (page, words, boxes clamped);
    raises :class:`GivenWordsError` naming ``where`` and the first problem."""
    if not isinstance(raw, dict):
        raise GivenWordsError(f"{where}: each page must be an object, got {type(raw).__name__}")
    page = raw.get("page")
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        raise GivenWordsError(f"{where}: 'page' must be an integer >= 0, got {page!r}")
    items = raw.get("words")
    if not isinstance(items, list):
        raise GivenWordsError(f"{where}: page {page}: 'words' must be a list")
    words: list[Word] = []
    clamped = 0
    for index, item in enumerate(items):
        at = f"{where}: page {page}, word {index}"
        if not isinstance(item, dict):
            raise GivenWordsError(f"{at}: each word must be an object ({{'text', 'bbox'}})")
        text, bbox = item.get("text"), item.get("bbox")
        if not isinstance(text, str) or not text.strip():
            raise GivenWordsError(f"{at}: 'text' must be a non-empty string, got {text!r}")
        if "\x00" in text:
            raise GivenWordsError(f"{at}: 'text' must not contain a NUL character")
        box = clamp_box(bbox)
        if box is None:
            raise GivenWordsError(
                f"{at} ({text!r}): 'bbox' must be [x0, y0, x1, y1] within 0-1000 (up to "
                f"{BOX_TOLERANCE:g} outside is clamped) with x0<=x1 and y0<=y1, got {bbox!r}"
            )
        clamped += int(list(box) != bbox)
        words.append(Word(text, rounded_box(box), page))
    return page, words, clamped


def parse_words_part(text: str | bytes, name: str = "words") -> GivenWords:
    """An upload's ``words`` part: a JSON list of page objects → the given words."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = (
            f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        )
        raise GivenWordsError(f"{name}: not valid JSON ({detail})") from None
    if not isinstance(raw, list):
        raise GivenWordsError(
            f'{name}: expected a JSON list of pages ([{{"page": 0, "words": [...]}}]), '
            f"got {type(raw).__name__}"
        )
    given = GivenWords(name)
    for index, item in enumerate(raw):
        page, words, _ = parse_page(item, f"{name}[{index}]")
        if page in given.pages:
            raise GivenWordsError(f"{name}[{index}]: page {page} is given twice")
        given.pages[page] = words
    return given


@dataclass
class WordsScan:
    """``words.jsonl`` read leniently: the usable words per document, one problem per
    document that has any (its words are not used: the document is set aside), and the lines
    that name no document of ``labels.jsonl``."""

    path: Path | None
    given: dict[str, GivenWords] = field(default_factory=dict)
    problems: dict[str, CorpusProblem] = field(default_factory=dict)
    orphans: list[CorpusProblem] = field(default_factory=list)
    clamped: int = 0


def scan_words(folder: Path, known_ids: Collection[str]) -> WordsScan:
    """Read ``folder/words.jsonl`` when there is one (an empty scan when not).

    ``known_ids`` are the ids ``labels.jsonl`` names; a line for another id is an orphan. A
    document's first problem is its error (with a count of any further ones).
    """
    path = Path(folder) / WORDS_FILE
    if not path.is_file():
        return WordsScan(path=None)
    scan = WordsScan(path=path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot be read ({exc})") from exc
    reasons: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    page_line: dict[tuple[str, int], int] = {}
    orphaned: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        doc_id, record, reason = _read_line(line, where)
        if doc_id is None or doc_id not in known_ids:
            if doc_id is None or doc_id not in orphaned:
                reason = reason or f"{where}: document {doc_id!r} is not in labels.jsonl"
                scan.orphans.append(CorpusProblem(number, reason, document_id=doc_id))
            if doc_id is not None:
                orphaned.add(doc_id)
            continue
        first_line.setdefault(doc_id, number)
        named = f"{where}: document {doc_id!r}"
        if reason is None:
            try:
                page, words, clamped = parse_page(record, named)
            except GivenWordsError as exc:
                reason = str(exc)
            else:
                if (doc_id, page) in page_line:
                    reason = f"{named}: page {page} is given twice (first on line "
                    reason += f"{page_line[doc_id, page]})"
                else:
                    page_line[doc_id, page] = number
                    given = scan.given.setdefault(doc_id, GivenWords(named))
                    given.pages[page] = words
                    scan.clamped += clamped
        if reason is not None:
            reasons.setdefault(doc_id, []).append(reason)
    for doc_id, found in reasons.items():
        more = f" (and {len(found) - 1} more problem(s) in its words)" if len(found) > 1 else ""
        scan.problems[doc_id] = CorpusProblem(
            first_line[doc_id], found[0] + more, document_id=doc_id
        )
        scan.given.pop(doc_id, None)
    return scan


def _read_line(line: str, where: str) -> tuple[str | None, Any, str | None]:
    """(document id, record, problem) of one line; the id is found in a broken line too."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        found = _ID_IN_BROKEN_LINE.search(line)
        doc_id = None
        if found:
            try:
                doc_id = json.loads(f'"{found.group(1)}"')
            except json.JSONDecodeError:
                doc_id = None
        named = f"{where}: document {doc_id!r}" if doc_id else where
        return doc_id, None, f"{named}: not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return None, None, f"{where}: each line must be a JSON object"
    doc_id = record.get("document_id")
    if not isinstance(doc_id, str) or not doc_id.strip():
        return None, None, f"{where}: 'document_id' must be a non-empty string"
    return doc_id, record, None


def words_records(document_id: str, pages: PageWords) -> list[dict[str, Any]]:
    """The ``words.jsonl`` objects of one document: one per page, blank pages included."""
    return [
        {
            "document_id": document_id,
            "page": page,
            "words": [
                {"text": w.text, "bbox": list(w.bbox)} for w in pages.words if w.page == page
            ],
        }
        for page in range(pages.page_count)
    ]


def write_words(folder: Path, documents: Sequence[tuple[str, PageWords]]) -> Path:
    """Write ``words.jsonl`` atomically: every page of every ``(document_id, words)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(record, ensure_ascii=False)
        for doc_id, pages in documents
        for record in words_records(doc_id, pages)
    ]
    target = folder / WORDS_FILE
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".words-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, target)
    return target

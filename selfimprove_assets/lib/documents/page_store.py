"""A cache of extracted page words, one Parquet file per document content hash.

Extraction (OCR above all) is the expensive step of ingestion; keying the cache by the sha256
of the file's bytes means re-ingesting the same document, under any name, does no work. For
ingestion (``extract_cached``, ``extract_many_cached``) words stored by another
``EXTRACTION_VERSION`` count as missing, so an improved extractor applies; plain ``get`` still
returns them (a reviewed upload keeps the words its review was made on).

Each record says its source: ``extracted`` (text layer or OCR, keyed by the file's hash) or
``given`` (words from the team's own OCR, keyed by :meth:`GivenWords.key`, a hash of the file
and the words). A lookup for one source never returns the other, so a file's OCR is never
served for its given words, nor given words for its OCR.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import pyarrow as pa
import pyarrow.parquet as pq

from selfimprove_assets.lib.documents.given_words import GivenWords
from selfimprove_assets.lib.documents.page_count import count_pages
from selfimprove_assets.lib.documents.pages import (
    DEFAULT_MAX_PAGES,
    EXTRACTION_VERSION,
    DocumentError,
    ExtractOptions,
    ExtractResult,
    extract_many,
    extract_pages,
)
from selfimprove_assets.lib.types import PageWords, Word

logger = logging.getLogger(__name__)

_HASH = re.compile(r"^[0-9a-f]{64}$")
EXTRACTED, GIVEN = "extracted", "given"
SOURCES = (EXTRACTED, GIVEN)
_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("x0", pa.int16()),
        ("y0", pa.int16()),
        ("x1", pa.int16()),
        ("y1", pa.int16()),
        ("page", pa.int32()),
    ]
)


def pages_key(content_hash: str, pages_uri: str | None) -> str:
    """The page-store key of a stored document: its pages file's name (given words are stored
    under their own key), else the file's hash."""
    stem = Path(pages_uri).stem if pages_uri else ""
    return stem if _HASH.match(stem) else content_hash


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks so large files stay out of memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class CachedResult:
    """One file of a cached batch: its hash, words or error, and whether the cache served it."""

    path: Path
    content_hash: str | None
    pages: PageWords | None
    error: DocumentError | None
    cache_hit: bool


class PageStore:
    """Parquet files under ``root/<hash[:2]>/<hash>.parquet``; page count and OCR pages in the
    file's metadata."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, content_hash: str) -> Path:
        if not _HASH.match(content_hash):
            raise ValueError(f"not a sha256 hex digest: {content_hash!r}")
        return self.root / content_hash[:2] / f"{content_hash}.parquet"

    def get(
        self, content_hash: str, *, current_only: bool = False, source: str | None = None
    ) -> PageWords | None:
        """The stored words, or None. ``current_only``: words stored by another
        ``EXTRACTION_VERSION`` count as missing (ingestion re-extracts them); without it they
        are returned, so a reviewed document keeps the words its review was made on.
        ``source`` (``extracted`` or ``given``): a record of the other source counts as
        missing; records written before sources were recorded are ``extracted``."""
        path = self.path_for(content_hash)
        if not path.is_file():
            return None
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"selfimprove", b"{}"))
        if current_only and meta.get("extraction_version", 1) != EXTRACTION_VERSION:
            return None
        if source is not None and meta.get("source", EXTRACTED) != source:
            return None
        columns: dict[str, list[Any]] = table.to_pydict()
        words = [
            Word(text, (x0, y0, x1, y1), page)
            for text, x0, y0, x1, y1, page in zip(
                columns["text"],
                columns["x0"],
                columns["y0"],
                columns["x1"],
                columns["y1"],
                columns["page"],
                strict=True,
            )
        ]
        return PageWords(
            words=words,
            page_count=int(meta.get("page_count", 0)),
            ocr_pages=[int(p) for p in meta.get("ocr_pages", [])],
        )

    def source_of(self, content_hash: str) -> str | None:
        """``extracted`` or ``given`` for a stored record; None when there is none."""
        path = self.path_for(content_hash)
        if not path.is_file():
            return None
        meta = json.loads((pq.read_schema(path).metadata or {}).get(b"selfimprove", b"{}"))
        return str(meta.get("source", EXTRACTED))

    def put(self, content_hash: str, pages: PageWords, *, source: str = EXTRACTED) -> Path:
        """Store the words atomically (write a temp file, then rename) and return the path."""
        if source not in SOURCES:
            raise ValueError(f"unknown words source {source!r}: expected one of {SOURCES}")
        path = self.path_for(content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        words = pages.words
        table = pa.table(
            {
                "text": [w.text for w in words],
                "x0": [w.bbox[0] for w in words],
                "y0": [w.bbox[1] for w in words],
                "x1": [w.bbox[2] for w in words],
                "y1": [w.bbox[3] for w in words],
                "page": [w.page for w in words],
            },
            schema=_SCHEMA,
        )
        meta = {
            "page_count": pages.page_count,
            "ocr_pages": list(pages.ocr_pages),
            "extraction_version": EXTRACTION_VERSION,
            "source": source,
        }
        table = table.replace_schema_metadata({"selfimprove": json.dumps(meta)})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def extract_cached(
        self, path: Path, **options: Unpack[ExtractOptions]
    ) -> tuple[str, PageWords, bool]:
        """(content hash, words, cache hit) for one file; extraction runs only on a miss."""
        content_hash = sha256_file(path)
        cached = self.get(content_hash, current_only=True, source=EXTRACTED)
        if cached is not None:
            return content_hash, cached, True
        pages = extract_pages(path, **options)
        self.put(content_hash, pages)
        return content_hash, pages, False

    def given_cached(
        self, path: Path, given: GivenWords, **options: Unpack[ExtractOptions]
    ) -> tuple[str, PageWords, bool]:
        """(key, words, cache hit) of a file with given words. The file's pages are counted
        (a page beyond them raises ``GivenWordsError``); pages the words do not give are read
        as usual (``extract_cached``), the given ones never are."""
        key = given.key(sha256_file(path))
        cached = self.get(key, current_only=True, source=GIVEN)
        if cached is not None:
            return key, cached, True
        page_count = count_pages(path, max_pages=options.get("max_pages", DEFAULT_MAX_PAGES))
        extracted = None
        if given.missing_pages(page_count):
            _, extracted, _ = self.extract_cached(path, **options)
        pages = given.page_words(page_count, extracted)
        self.put(key, pages, source=GIVEN)
        return key, pages, False

    def extract_many_cached(
        self,
        paths: Iterable[Path],
        workers: int = 2,
        *,
        on_result: Callable[[ExtractResult], None] | None = None,
        **options: Unpack[ExtractOptions],
    ) -> list[CachedResult]:
        """Batch form of ``extract_cached``: misses go through ``extract_many``'s process pool;
        a bad file is reported in its result and never stops the batch."""
        todo = [Path(p) for p in paths]
        results: list[CachedResult | None] = [None] * len(todo)
        misses: dict[str, list[int]] = {}
        for i, path in enumerate(todo):
            try:
                content_hash = sha256_file(path)
            except OSError as exc:
                error = DocumentError(path, f"cannot read file: {exc.strerror}", "not_found")
                results[i] = CachedResult(path, None, None, error, False)
                continue
            cached = self.get(content_hash, current_only=True, source=EXTRACTED)
            if cached is not None:
                results[i] = CachedResult(path, content_hash, cached, None, True)
            else:
                misses.setdefault(content_hash, []).append(i)
        first = [indices[0] for indices in misses.values()]  # same bytes twice: extract once
        extracted = extract_many([todo[i] for i in first], workers, on_result=on_result, **options)
        for (content_hash, indices), result in zip(misses.items(), extracted, strict=True):
            if result.pages is not None:
                self.put(content_hash, result.pages)
            for n, i in enumerate(indices):
                results[i] = CachedResult(
                    todo[i], content_hash, result.pages, result.error, n > 0 and result.ok
                )
        return [r for r in results if r is not None]

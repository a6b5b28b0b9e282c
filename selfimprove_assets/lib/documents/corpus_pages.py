"""The words of a labeled folder's documents: the one place ingestion, evaluation and the tiny
backbone get them.

A document with given words (``words.jsonl``) gets those, in the order given, and its given
pages are never read; any other page, or document, is read as usual (text layer or OCR). Both
go through the page store, each under its own key (see ``page_store``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from selfimprove_assets.lib.documents.given_words import (
    GivenWordsError,
    WordsScan,
    scan_words,
)
from selfimprove_assets.lib.documents.labels import CorpusProblem
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.types import PageWords


@dataclass
class CorpusPages:
    store: PageStore
    words: WordsScan

    @classmethod
    def open(cls, store: PageStore, folder: Path, known_ids: Collection[str]) -> CorpusPages:
        """Pages of the documents of ``folder``; ``known_ids`` are the ids its labels name."""
        return cls(store, scan_words(folder, set(known_ids)))

    @property
    def orphans(self) -> list[CorpusProblem]:
        """Lines of ``words.jsonl`` that name no document of the labels (or no id at all)."""
        return self.words.orphans

    def is_given(self, document_id: str) -> bool:
        return document_id in self.words.given

    def pages_of(self, document_id: str, file: Path) -> tuple[str, PageWords, bool]:
        """(page-store key, words, cache hit) of one document. Raises ``GivenWordsError`` (the
        document's one words problem) or ``DocumentError`` (the file cannot be read)."""
        problem = self.words.problems.get(document_id)
        if problem is not None:
            raise GivenWordsError(problem.reason)
        given = self.words.given.get(document_id)
        if given is None:
            return self.store.extract_cached(Path(file))
        return self.store.given_cached(Path(file), given)

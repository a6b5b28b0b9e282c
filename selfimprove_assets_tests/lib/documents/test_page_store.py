from __future__ import annotations

from pathlib import Path

import pytest

from selfimprove_assets.lib.documents import page_store as page_store_module
from selfimprove_assets.lib.documents.page_store import PageStore, sha256_file
from selfimprove_assets.lib.documents.synth import SynthDocument
from selfimprove_assets.lib.types import PageWords, Word


def test_put_get_round_trip(tmp_path: Path) -> None:
    store = PageStore(tmp_path / "pages")
    words = PageWords(
        words=[Word("Total", (10, 20, 60, 30), 0), Word("$1,234.56", (70, 20, 140, 30), 1)],
        page_count=2,
        ocr_pages=[1],
    )
    digest = "ab" + "0" * 62
    assert store.get(digest) is None
    path = store.put(digest, words)
    assert path.suffix == ".parquet" and path.parent.name == "ab"
    assert store.get(digest) == words
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_words_from_an_older_extractor_count_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_docs: list[SynthDocument]
) -> None:
    store = PageStore(tmp_path / "pages")
    digest = "cd" + "0" * 62
    words = PageWords(words=[Word("Total", (10, 20, 60, 30), 0)], page_count=1, ocr_pages=[0])
    monkeypatch.setattr(page_store_module, "EXTRACTION_VERSION", 1)
    store.put(digest, words)
    assert store.get(digest, current_only=True) == words
    monkeypatch.setattr(page_store_module, "EXTRACTION_VERSION", 2)
    assert store.get(digest, current_only=True) is None
    assert store.get(digest) == words  # what a stored review was made on stays readable
    store.put(digest, words)
    assert store.get(digest, current_only=True) == words

    path = tmp_path / "doc.pdf"
    path.write_bytes(text_docs[0].data)
    assert store.extract_cached(path)[2] is False
    assert store.extract_cached(path)[2] is True
    assert store.extract_many_cached([path], workers=1)[0].cache_hit
    monkeypatch.setattr(page_store_module, "EXTRACTION_VERSION", 3)  # ingestion re-extracts
    assert store.extract_cached(path)[2] is False
    monkeypatch.setattr(page_store_module, "EXTRACTION_VERSION", 4)
    assert not store.extract_many_cached([path], workers=1)[0].cache_hit


def test_same_bytes_are_extracted_once(
    tmp_path: Path, text_docs: list[SynthDocument], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, copy = tmp_path / "a.pdf", tmp_path / "renamed-copy.pdf"
    first.write_bytes(text_docs[2].data)
    copy.write_bytes(text_docs[2].data)
    store = PageStore(tmp_path / "pages")
    digest, words, hit = store.extract_cached(first)
    assert not hit and digest == sha256_file(first) and words.words

    calls: list[Path] = []
    real = page_store_module.extract_pages
    monkeypatch.setattr(
        page_store_module, "extract_pages", lambda p, **kw: calls.append(p) or real(p, **kw)
    )
    digest2, words2, hit2 = store.extract_cached(copy)
    assert hit2 and digest2 == digest and words2 == words
    assert calls == []  # served from Parquet, no extraction


def test_batch_uses_the_cache_and_reports_errors(
    tmp_path: Path, text_docs: list[SynthDocument]
) -> None:
    paths = []
    for i, doc in enumerate(text_docs[:3]):
        paths.append(tmp_path / f"{i}.pdf")
        paths[-1].write_bytes(doc.data)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a document")
    store = PageStore(tmp_path / "pages")
    store.extract_cached(paths[0])
    results = store.extract_many_cached([paths[0], paths[1], bad, paths[2], paths[1]], workers=1)
    assert [r.cache_hit for r in results] == [True, False, False, False, True]
    assert results[2].error is not None and results[2].error.kind == "unsupported_type"
    assert results[4].pages == results[1].pages
    again = store.extract_many_cached(paths, workers=1)
    assert all(r.cache_hit for r in again)

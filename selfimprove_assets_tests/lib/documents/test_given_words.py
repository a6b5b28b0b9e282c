"""Given words (bring your own OCR): reading words.jsonl, the page store keeping them apart from
a file's own words, and every bad line giving its document one clear error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from selfimprove_assets.lib.documents.given_words import (
    WORDS_FILE,
    GivenWords,
    GivenWordsError,
    parse_words_part,
    scan_words,
    write_words,
)
from selfimprove_assets.lib.documents.page_store import GIVEN, PageStore, pages_key, sha256_file
from selfimprove_assets.lib.documents.synth import SynthDocument
from selfimprove_assets.lib.types import PageWords, Word

GIVEN_WORDS = [Word("zqxj", (100, 100, 200, 130), 0), Word("Totl:", (210, 100, 300, 130), 0)]


def _given(*words: Word, name: str = "doc") -> GivenWords:
    given = GivenWords(name)
    for w in words:
        given.pages.setdefault(w.page, []).append(w)
    return given


def _write_jsonl(path: Path, lines: list[Any]) -> None:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", "utf-8"
    )


def test_page_store_tells_given_words_from_the_files_own_words(
    tmp_path: Path, text_docs: list[SynthDocument]
) -> None:
    store = PageStore(tmp_path / "pages")
    path = tmp_path / "doc.pdf"
    path.write_bytes(text_docs[0].data)
    file_hash, extracted, hit = store.extract_cached(path)
    assert not hit and extracted.words and all(w.text != "zqxj" for w in extracted.words)

    key, given, hit = store.given_cached(path, _given(*GIVEN_WORDS))
    assert not hit and key != file_hash and given.words == GIVEN_WORDS
    assert given.page_count == 1 and given.ocr_pages == []
    assert store.source_of(key) == GIVEN and store.source_of(file_hash) == "extracted"
    # each lookup returns its own source, whichever was cached first
    assert store.extract_cached(path) == (file_hash, extracted, True)
    assert store.given_cached(path, _given(*GIVEN_WORDS)) == (key, given, True)
    other = [Word("other", (1, 1, 9, 9), 0)]
    other_key, other_words, _ = store.given_cached(path, _given(*other))
    assert other_key not in (key, file_hash) and other_words.words == other

    # A given record under the file's own hash is never served as its extraction.
    store.put(file_hash, given, source=GIVEN)
    assert store.get(file_hash, source="extracted") is None
    again, words, hit = store.extract_cached(path)
    assert (again, hit) == (file_hash, False) and words == extracted
    # a stored document finds its words by the pages file it names
    assert pages_key(file_hash, str(store.path_for(key))) == key
    assert pages_key(file_hash, str(store.path_for(file_hash))) == file_hash


def test_pages_the_words_do_not_give_are_read(
    tmp_path: Path, text_docs: list[SynthDocument]
) -> None:
    one = pdfium.PdfDocument(text_docs[1].data)
    two = pdfium.PdfDocument.new()
    two.import_pages(one)
    two.import_pages(one)
    path = tmp_path / "two.pdf"
    two.save(str(path))
    one.close()
    two.close()
    store = PageStore(tmp_path / "pages")
    _, read, _ = store.extract_cached(path)
    _, words, _ = store.given_cached(path, _given(*GIVEN_WORDS))
    assert words.page_count == 2
    assert [w for w in words.words if w.page == 0] == GIVEN_WORDS
    assert [w for w in words.words if w.page == 1] == [w for w in read.words if w.page == 1]

    with pytest.raises(GivenWordsError, match=r"doc: words for page 2 but the file has 2 page"):
        store.given_cached(path, _given(Word("x", (0, 0, 1, 1), 2)))


def test_each_bad_document_gets_one_error_and_the_rest_are_used(tmp_path: Path) -> None:
    box = [10, 10, 50, 30]
    _write_jsonl(
        tmp_path / WORDS_FILE,
        [
            {"document_id": "good", "page": 0, "words": [{"text": "b", "bbox": box}]},
            {"document_id": "good", "page": 1, "words": []},  # a blank page
            {"document_id": "good", "page": 0, "words": [{"text": "a", "bbox": [-3, 0, 1004, 9]}]}
            | {"page": 2},
            {"document_id": "empty", "page": 0, "words": [{"text": " ", "bbox": box}]},
            {"document_id": "empty", "page": 1, "words": [{"text": "", "bbox": box}]},
            {"document_id": "far", "page": 0, "words": [{"text": "x", "bbox": [0, 0, 1200, 9]}]},
            {"document_id": "twice", "page": 0, "words": []},
            {"document_id": "twice", "page": 0, "words": []},
            '{"document_id": "broken", "page": 0, "words": [{"text": "x", "bbox": [1, 2',
            {"document_id": "ghost", "page": 0, "words": []},
            {"document_id": "ghost", "page": 1, "words": []},
            "[1, 2]",
            {"document_id": "paged", "page": -1, "words": []},
        ],
    )
    known = {"good", "empty", "far", "twice", "broken", "paged", "unlisted"}
    scan = scan_words(tmp_path, known)
    assert set(scan.given) == {"good"}
    good = scan.given["good"]
    assert good.pages == {
        0: [Word("b", (10, 10, 50, 30), 0)],
        1: [],
        2: [Word("a", (0, 0, 1000, 9), 2)],  # a little outside: clamped like label boxes
    }
    assert scan.clamped == 1
    reasons = {doc_id: p.reason for doc_id, p in scan.problems.items()}
    assert set(reasons) == {"empty", "far", "twice", "broken", "paged"}
    assert "document 'empty': page 0, word 0: 'text' must be a non-empty string" in reasons["empty"]
    assert reasons["empty"].endswith("(and 1 more problem(s) in its words)")
    assert "document 'far'" in reasons["far"] and "within 0-1000" in reasons["far"]
    assert "page 0 is given twice (first on line 7)" in reasons["twice"]
    assert f"{WORDS_FILE}:9: document 'broken': not valid JSON" in reasons["broken"]
    assert "'page' must be an integer >= 0" in reasons["paged"]
    assert scan.problems["twice"].line == 7
    orphans = [(p.document_id, p.reason) for p in scan.orphans]
    assert len(orphans) == 2  # 'ghost' once for its two lines, and the line that is no object
    assert orphans[0][0] == "ghost" and "'ghost' is not in labels.jsonl" in orphans[0][1]
    assert orphans[1][0] is None and "each line must be a JSON object" in orphans[1][1]
    assert scan_words(tmp_path / "nowhere", known).given == {}


def test_written_words_read_back_the_same(tmp_path: Path) -> None:
    pages = PageWords(
        words=[Word("Name:", (1, 2, 30, 9), 0), Word("Ünïcode", (5, 500, 90, 520), 2)],
        page_count=3,
    )
    write_words(tmp_path, [("d1", pages)])
    lines = (tmp_path / WORDS_FILE).read_text("utf-8").splitlines()
    assert [json.loads(line)["page"] for line in lines] == [0, 1, 2]  # blank page 1 too
    given = scan_words(tmp_path, {"d1"}).given["d1"]
    assert given.page_words(3).words == pages.words


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("{not json", "words: not valid JSON"),
        ('{"page": 0}', "expected a JSON list of pages"),
        ('[{"page": 0, "words": [{"text": "a"}]}]', "words[0]: page 0, word 0 ('a'): 'bbox'"),
        ('[{"page": 0, "words": []}, {"page": 0, "words": []}]', "page 0 is given twice"),
        ('[{"page": 0, "words": [{"text": "a\\u0000", "bbox": [0,0,1,1]}]}]', "NUL character"),
    ],
)
def test_an_upload_words_part_is_refused_with_its_problem(part: str, message: str) -> None:
    with pytest.raises(GivenWordsError, match=re.escape(message)):
        parse_words_part(part)


def test_the_key_depends_on_the_file_and_the_words(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    digest = sha256_file(path)
    given = _given(*GIVEN_WORDS)
    assert given.key(digest) == _given(*GIVEN_WORDS).key(digest) != digest
    assert given.key(digest) != given.key("0" * 64)
    moved = _given(GIVEN_WORDS[0], Word("Totl:", (211, 100, 300, 130), 0))
    assert moved.key(digest) != given.key(digest)

"""hOCR (what Tesseract and many OCR engines write) into given words (``words.jsonl``).

Conversion rules (also in docs/real-documents.md): ``SRC`` is a labeled folder (``labels.jsonl``
and its files, the corpus contract) with one hOCR file per document beside the document's
file, with the same stem (``files/a.png`` → ``files/a.hocr``; Tesseract writes it with
``tesseract files/a.png files/a hocr``). Each ``ocr_page`` element (``title="bbox 0 0 W H"``)
is a page, in the order they appear; each ``ocrx_word`` inside it (``title="bbox x0 y0 x1
y1; ..."``) is a word, its text the element's text, its box scaled by the page size to 0-1000;
words with no text are dropped. ``OUT`` is a copy of the corpus (labels, files, splits.json)
with ``words.jsonl``. A document without an hOCR file, or with one that cannot be read, is
copied without words (it is read as usual at ingest) and named in the summary.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

from selfimprove_assets.lib.documents.corpus import SPLITS_FILE
from selfimprove_assets.lib.documents.given_words import write_words
from selfimprove_assets.lib.documents.labels import CorpusError, read_labels
from selfimprove_assets.lib.interchange.common import (
    ImportSummary,
    InterchangeError,
    copied_document,
    finish,
    pixels_to_thousandths,
)
from selfimprove_assets.lib.types import PageWords, Word

HOCR_SUFFIX = ".hocr"
_BBOX = re.compile(
    r"(?:^|;)\s*bbox\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+"
    r"(-?\d+(?:\.\d+)?)"
)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def _bbox(title: str | None) -> tuple[float, float, float, float] | None:
    found = _BBOX.search(title or "")
    if found is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in found.groups())
    return x0, y0, x1, y1


class _HocrParser(HTMLParser):
    """Collects ``ocr_page`` sizes and the ``ocrx_word`` boxes and texts inside them."""

    def __init__(self, where: str) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.pages: list[tuple[float, float, list[tuple[str, tuple[float, ...]]]]] = []
        self._depth = 0
        self._word: tuple[int, tuple[float, ...], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        self._depth += 1
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if "ocr_page" in classes:
            box = _bbox(values.get("title"))
            if box is None or box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
                raise InterchangeError(
                    f"{self.where}: page {len(self.pages)} has no 'bbox 0 0 W H' in its title"
                )
            self.pages.append((box[2] - box[0], box[3] - box[1], []))
        elif "ocrx_word" in classes and self._word is None:
            box = _bbox(values.get("title"))
            if not self.pages:
                raise InterchangeError(f"{self.where}: a word outside any ocr_page")
            if box is None:
                raise InterchangeError(f"{self.where}: a word with no 'bbox' in its title")
            self._word = (self._depth, box, [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return  # <meta/>, <br/>: no content

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._word is not None and self._depth == self._word[0]:
            _, box, parts = self._word
            self.pages[-1][2].append(("".join(parts).strip(), box))
            self._word = None
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._word is not None:
            self._word[2].append(data)


def read_hocr(path: Path) -> PageWords:
    """The words of an hOCR file, each page's boxes scaled to 0-1000 by the page's size."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InterchangeError(f"{path}: cannot be read ({exc})") from None
    parser = _HocrParser(str(path))
    parser.feed(text)
    parser.close()
    if not parser.pages:
        raise InterchangeError(f"{path}: no ocr_page element: is it hOCR?")
    words: list[Word] = []
    for index, (width, height, items) in enumerate(parser.pages):
        for word, box in items:
            if word:
                x0, y0, x1, y1 = box
                scaled = pixels_to_thousandths((x0, y0, x1, y1), round(width), round(height))
                words.append(Word(word, scaled, index))
    return PageWords(words=words, page_count=len(parser.pages))


def import_hocr(src: Path, out_dir: Path, *, default_doc_type: str) -> ImportSummary:
    """A labeled folder plus one hOCR per document → the same corpus with ``words.jsonl``."""
    src, out_dir = Path(src), Path(out_dir)
    if not src.is_dir():
        raise InterchangeError(f"{src}: expected a labeled folder (labels.jsonl and files)")
    try:
        labeled = read_labels(src)
    except CorpusError as exc:
        raise InterchangeError(str(exc)) from None
    summary = ImportSummary(out_dir=out_dir)
    docs, words = [], []
    for doc in labeled:
        hocr = doc.file.with_suffix(HOCR_SUFFIX)
        copied = copied_document(
            doc.file, out_dir, doc.document_id, doc.doc_type or default_doc_type, doc.entities
        )
        docs.append(copied)
        if not hocr.is_file():
            summary.skipped.append(
                f"{doc.document_id}: no {hocr.name} beside its file (read at ingest)"
            )
            continue
        try:
            words.append((doc.document_id, read_hocr(hocr)))
        except InterchangeError as exc:
            summary.skipped.append(f"{doc.document_id}: {exc} (read at ingest)")
    finish(out_dir, docs, summary)
    write_words(out_dir, words)
    if (src / SPLITS_FILE).is_file():
        shutil.copyfile(src / SPLITS_FILE, out_dir / SPLITS_FILE)
    return summary

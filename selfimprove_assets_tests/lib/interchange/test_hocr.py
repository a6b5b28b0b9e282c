"""`selfimprove import --from hocr`: Tesseract's own hOCR (made here by the installed
`tesseract` on generated images) becomes words.jsonl, normalized to 0-1000 by the page size,
and ingest-side readers use those words as given."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from selfimprove_assets.cli import app
from selfimprove_assets.lib.documents.given_words import WORDS_FILE
from selfimprove_assets.lib.evaluation.corpus_eval import load_folder
from selfimprove_assets.lib.interchange.common import InterchangeError
from selfimprove_assets.lib.interchange.hocr import read_hocr
from selfimprove_assets.lib.settings import load_settings

LINES = ["INVOICE Total 42.50", "Patient Alice Smith"]


def _page(lines: list[str]) -> Image.Image:
    image = Image.new("L", (800, 300), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for row, line in enumerate(lines):
        draw.text((40, 40 + 110 * row), line, font=font, fill=0)
    return image


def _tesseract(image: Path) -> Path:
    subprocess.run(
        ["tesseract", str(image), str(image.with_suffix("")), "hocr"],
        check=True,
        capture_output=True,
    )
    return image.with_suffix(".hocr")


def _hocr_words(path: Path) -> list[list[tuple[str, tuple[int, int, int, int]]]]:
    """The words of an hOCR file per page, read with regular expressions (not the importer)."""
    text = path.read_text("utf-8")
    pages = []
    for chunk in re.split(r"<div class='ocr_page'", text)[1:]:
        width, height = map(int, re.search(r"bbox 0 0 (\d+) (\d+)", chunk).groups())  # type: ignore[union-attr]
        words = []
        for x0, y0, x1, y1, word in re.findall(
            r"class='ocrx_word'[^>]*title='bbox (\d+) (\d+) (\d+) (\d+);[^>]*>([^<]*)<", chunk
        ):
            scale = [1000 / width, 1000 / height] * 2
            box = [round(int(v) * s) for v, s in zip((x0, y0, x1, y1), scale, strict=True)]
            words.append((word, (box[0], box[1], box[2], box[3])))
        pages.append(words)
    return pages


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A labeled folder: a one-page PNG and a two-page TIFF with Tesseract's hOCR beside them,
    one document without hOCR, one whose hOCR is not hOCR."""
    src = tmp_path / "src"
    files = src / "files"
    files.mkdir(parents=True)
    _page(LINES).save(files / "one.png")
    hocr = _tesseract(files / "one.png")
    # a word our OCR would never read there: the imported words are the file's, not a new OCR
    hocr.write_text(hocr.read_text("utf-8").replace(">Smith<", ">Smyth-zq<"), "utf-8")
    pages = [_page(LINES), _page(["Dated 2024-01-02"])]
    pages[0].save(files / "two.tif", save_all=True, append_images=pages[1:])
    _tesseract(files / "two.tif")
    _page(["no hocr here"]).save(files / "plain.png")
    _page(["broken"]).save(files / "broken.png")
    (files / "broken.hocr").write_text("<html><body><p>no pages</p></body></html>", "utf-8")
    records = [
        {
            "document_id": "one",
            "file": "files/one.png",
            "doc_type": "invoice",
            "entities": [{"label": "total", "text": "42.50", "page": 0}],
        },
        {
            "document_id": "two",
            "file": "files/two.tif",
            "doc_type": "invoice",
            "entities": [{"label": "date", "text": "2024-01-02", "page": 1}],
        },
        {"document_id": "plain", "file": "files/plain.png", "doc_type": "note"},
        {"document_id": "broken", "file": "files/broken.png", "doc_type": "note"},
    ]
    (src / "labels.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n", "utf-8")
    (src / "splits.json").write_text(json.dumps({"train": ["one", "plain"], "test": ["two"]}))
    return src


def test_import_hocr_writes_the_words_normalized_by_the_page_size(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", "--from", "hocr", str(source), str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents"] == 4 and summary["skipped"] == 2
    skipped = "\n".join(summary["skipped_examples"])
    assert "plain: no plain.hocr beside its file" in skipped
    assert "broken:" in skipped and "no ocr_page element" in skipped
    assert json.loads((out / "splits.json").read_text()) == {
        "train": ["one", "plain"],
        "test": ["two"],
    }
    records = [json.loads(line) for line in (out / WORDS_FILE).read_text("utf-8").splitlines()]
    assert [(r["document_id"], r["page"]) for r in records] == [("one", 0), ("two", 0), ("two", 1)]
    expected = {
        "one": _hocr_words(source / "files" / "one.hocr"),
        "two": _hocr_words(source / "files" / "two.hocr"),
    }
    for record in records:
        words = [(w["text"], tuple(w["bbox"])) for w in record["words"]]
        assert words == expected[record["document_id"]][record["page"]]
    one = [w["text"] for w in records[0]["words"]]
    assert "42.50" in one and "Smyth-zq" in one
    assert "2024-01-02" in [w["text"] for w in records[2]["words"]]

    # Evaluation (and ingestion, through the same reader) uses them as given.
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path / "home")})
    settings.ensure_dirs()
    examples = {e.document_id: e for e in load_folder(settings, out).examples}
    assert examples["one"].words == one and examples["one"].word_tags[one.index("42.50")] != "O"
    assert examples["two"].pages.count(1) == len(records[2]["words"])


def test_a_page_without_a_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.hocr"
    path.write_text(
        "<html><body><div class='ocr_page' title='image \"x.png\"'>"
        "<span class='ocrx_word' title='bbox 1 2 3 4'>a</span></div></body></html>",
        "utf-8",
    )
    with pytest.raises(InterchangeError, match=r"bad.hocr: page 0 has no 'bbox 0 0 W H'"):
        read_hocr(path)

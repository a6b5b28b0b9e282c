"""Label Studio, FUNSD and SROIE exports into the labeled-corpus contract.

The annotation files under ``fixtures/`` are written in each tool's real format; the images
they point at are made here (only their sizes matter to the conversion).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from selfimprove_assets.cli import app
from selfimprove_assets.lib.documents.corpus import read_splits
from selfimprove_assets.lib.documents.labels import LabeledDocument, read_labels
from selfimprove_assets.lib.interchange.common import InterchangeError
from selfimprove_assets.lib.interchange.importers import run_import
from selfimprove_assets.lib.interchange.sroie import locate, read_lines

FIXTURES = Path(__file__).parent / "fixtures"
IMAGES = {  # per fixture: the images its annotations point at, and their sizes
    "label_studio": {
        "invoice-1.png": (200, 100),
        "scans/form-2.jpg": (200, 100),
        "pages/page-a.png": (200, 100),
        "pages/page-b.png": (200, 100),
    },
    "funsd": {
        "training_data/images/82092117.png": (500, 400),
        "testing_data/images/83443897.png": (1000, 1000),
    },
    "sroie": {"img/X51005200931.jpg": (400, 800)},
}


def _fixture(name: str, tmp_path: Path) -> Path:
    """A copy of fixture ``name`` under ``tmp_path``, with its images made."""
    src = tmp_path / name
    shutil.copytree(FIXTURES / name, src)
    for relative, size in IMAGES[name].items():
        path = src / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", size, 255).save(path)
    return src


def _by_id(out: Path) -> dict[str, LabeledDocument]:
    return {d.document_id: d for d in read_labels(out)}


def test_label_studio_export(tmp_path: Path) -> None:
    src = _fixture("label_studio", tmp_path)
    out = tmp_path / "out"
    summary = run_import("label-studio", src / "export.json", out)
    docs = _by_id(out)
    assert set(docs) == {"101", "102", "103"}
    assert summary.documents == 3 and summary.entities == 4
    assert any("104" in s and "no completed annotation" in s for s in summary.skipped)
    assert any("a3" in s and "no label" in s for s in summary.skipped)

    invoice = docs["101"]
    assert invoice.doc_type == "invoice"  # from the kept annotation, not the cancelled one
    assert invoice.file.read_bytes() == (src / "invoice-1.png").read_bytes()
    assert [(e.label, e.text, e.page, e.bbox) for e in invoice.entities] == [
        ("invoice_number", "INV-0042", 0, (100, 200, 400, 300)),
        ("total", "1,234 .56", 0, (500, 500, 750, 700)),
    ]
    form = docs["102"]
    assert form.doc_type == "document"  # no choice: the default type
    assert form.file.suffix == ".jpg"
    # Rotated 90 degrees about its top-left corner on a 200x100 image: upright box around it.
    assert [(e.label, e.text, e.bbox) for e in form.entities] == [
        ("signature", "", (450, 100, 500, 500))
    ]
    fax = docs["103"]
    assert fax.doc_type == "fax" and fax.file.suffix == ".tif"
    with Image.open(fax.file) as merged:
        assert getattr(merged, "n_frames", 1) == 2
    assert [(e.label, e.text, e.page, e.bbox) for e in fax.entities] == [
        ("stamp", "RECEIVED", 1, (0, 0, 500, 500))
    ]


def test_funsd_annotations(tmp_path: Path) -> None:
    src = _fixture("funsd", tmp_path)
    out = tmp_path / "out"
    summary = run_import("funsd", src, out)
    docs = _by_id(out)
    train = docs["82092117"]
    assert train.doc_type == "form"  # type: ignore[attr-defined]
    assert [(e.label, e.text, e.bbox) for e in train.entities] == [  # type: ignore[attr-defined]
        ("question", "DATE:", (100, 100, 300, 150)),
        ("answer", "12/10/98", (320, 100, 600, 150)),
        ("header", "FAX COVER SHEET", (200, 0, 800, 50)),
    ]
    assert any("item 3" in s for s in summary.skipped)  # empty text dropped, "other" silently
    assert read_splits(out) == {"train": ["82092117"], "test": ["83443897"]}


def test_sroie_keys_and_line_boxes(tmp_path: Path) -> None:
    src = _fixture("sroie", tmp_path)
    out = tmp_path / "out"
    run_import("sroie", src, out)
    (receipt,) = read_labels(out)
    assert receipt.doc_type == "receipt"
    entities = {e.label: e for e in receipt.entities}
    assert [e.label for e in receipt.entities] == ["company", "date", "address", "total", "cashier"]
    assert entities["company"].bbox == (100, 25, 900, 62)  # spacing ignored
    assert entities["date"].bbox == (100, 150, 500, 175)
    # The address spans two lines (the first ends with the comma of the value).
    assert entities["address"].bbox == (100, 75, 900, 125)
    # "9.00" is an item price and the total: the total takes the last line.
    assert entities["total"].bbox == (750, 750, 900, 775)
    # A value no line spells gets no box (ingest aligns it by text).
    assert entities["cashier"].bbox is None and entities["cashier"].text == "THANK YOU AGAIN"


def test_sroie_line_matching_rules(tmp_path: Path) -> None:
    box = tmp_path / "box.txt"
    box.write_text("0,0,10,0,10,10,0,10,A, B\n0,20,10,20,10,30,0,30,C\n", encoding="utf-8")
    lines = read_lines(box)
    assert lines[0] == ("A, B", (0.0, 0.0, 10.0, 10.0))  # commas in the text survive
    assert locate("address", "a, b c", lines) == (0.0, 0.0, 10.0, 30.0)
    assert locate("address", "A, B C D", lines) is None
    box.write_text("1,2,3\n", encoding="utf-8")
    with pytest.raises(InterchangeError, match="box.txt:1"):
        read_lines(box)


def test_import_command_and_refusals(tmp_path: Path) -> None:
    src = _fixture("sroie", tmp_path)
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", "--from", "sroie", str(src), str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"] == 1
    again = runner.invoke(app, ["import", "--from", "sroie", str(src), str(out)])
    assert again.exit_code == 1 and "already holds a labels.jsonl" in again.output
    unknown = runner.invoke(app, ["import", "--from", "cvat", str(src), str(tmp_path / "x")])
    assert unknown.exit_code == 1 and "unknown format" in unknown.output
    with pytest.raises(InterchangeError, match="not a FUNSD folder"):
        run_import("funsd", src, tmp_path / "y")

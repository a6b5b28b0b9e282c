"""One entry point for the importers (``selfimprove import --from FORMAT SRC OUT``)."""

from __future__ import annotations

from pathlib import Path

from selfimprove_assets.lib.interchange.common import ImportSummary, InterchangeError
from selfimprove_assets.lib.interchange.funsd import import_funsd
from selfimprove_assets.lib.interchange.hocr import import_hocr
from selfimprove_assets.lib.interchange.label_studio import import_label_studio
from selfimprove_assets.lib.interchange.sroie import import_sroie

IMPORT_FORMATS = {
    "label-studio": (import_label_studio, "document"),
    "funsd": (import_funsd, "form"),
    "sroie": (import_sroie, "receipt"),
    "hocr": (import_hocr, "document"),
}


def run_import(
    source_format: str, src: Path, out_dir: Path, *, doc_type: str | None = None
) -> ImportSummary:
    """Convert ``src`` (in ``source_format``) into a labeled folder ``out_dir``."""
    if source_format not in IMPORT_FORMATS:
        raise InterchangeError(f"unknown format {source_format!r}: use {', '.join(IMPORT_FORMATS)}")
    src, out_dir = Path(src), Path(out_dir)
    if not src.exists():
        raise InterchangeError(f"{src} does not exist")
    if (out_dir / "labels.jsonl").exists():
        raise InterchangeError(f"{out_dir} already holds a labels.jsonl: choose an empty folder")
    convert, default_type = IMPORT_FORMATS[source_format]
    return convert(src, out_dir, default_doc_type=doc_type or default_type)

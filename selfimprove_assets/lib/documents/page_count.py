"""How many pages a file has, without reading its words (no text layer, no OCR).

Given words (``words.jsonl``, an upload's ``words`` part) are checked against the file's pages
before they are used; counting is cheap where extraction is not. The same limits and errors as
extraction apply (:class:`~selfimprove_assets.lib.documents.pages.DocumentError`).
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from PIL import Image

from selfimprove_assets.lib.documents.pages import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PAGES,
    PDFIUM_LOCK,
    DocumentError,
    detect_type,
)


def count_pages(path: Path, *, max_pages: int = DEFAULT_MAX_PAGES) -> int:
    """The number of pages of the file at ``path``; raise DocumentError when it is unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DocumentError(path, "file not found", "not_found") from None
    if size > DEFAULT_MAX_BYTES:
        raise DocumentError(
            path,
            f"file is {size:,} bytes, over the limit of {DEFAULT_MAX_BYTES:,} bytes",
            "too_large",
        )
    return count_pages_of_bytes(path.read_bytes(), name=str(path), max_pages=max_pages)


def count_pages_of_bytes(
    data: bytes, *, name: str = "<upload>", max_pages: int = DEFAULT_MAX_PAGES
) -> int:
    """The number of pages of a document in memory: a PDF's pages, a TIFF's frames, else 1."""
    if not data:
        raise DocumentError(name, "file is empty", "empty")
    kind = detect_type(data[:1024])
    if kind is None:
        raise DocumentError(
            name, "unsupported type: expected a PDF, PNG, JPEG or TIFF file", "unsupported_type"
        )
    if kind in ("png", "jpeg"):
        return 1
    if kind == "tiff":
        try:
            with Image.open(io.BytesIO(data)) as tiff:
                count = int(getattr(tiff, "n_frames", 1))
        except (OSError, SyntaxError, ValueError) as exc:
            raise DocumentError(name, f"corrupted TIFF: {exc}", "corrupted") from None
    else:
        with PDFIUM_LOCK:
            try:
                pdf = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as exc:
                if getattr(exc, "err_code", None) == pdfium_raw.FPDF_ERR_PASSWORD:
                    raise DocumentError(
                        name, "PDF is encrypted with a password", "encrypted"
                    ) from None
                raise DocumentError(name, f"corrupted PDF: {exc}", "corrupted") from None
            try:
                count = len(pdf)
            finally:
                pdf.close()
        if count == 0:
            raise DocumentError(name, "PDF has zero pages", "empty")
    if count > max_pages:
        raise DocumentError(
            name, f"document has {count:,} pages, over the limit of {max_pages:,}", "too_many_pages"
        )
    return count

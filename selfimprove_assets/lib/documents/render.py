"""Page images: one page of a PDF or image file as PNG bytes, scaled to a maximum width.

PDF pages are rendered with pdfium (crop box and /Rotate honoured, as in extraction, so the
0-1000 boxes line up); images are EXIF-transposed the same way extraction does, and each frame
of a multi-page TIFF is a page.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from selfimprove_assets.lib.documents.pages import PDFIUM_LOCK

MAX_WIDTH = 1400


def render_page_png(blob: Path, kind: str, page: int, *, max_width: int = MAX_WIDTH) -> bytes:
    """PNG bytes of page ``page`` (0-based) of the blob; IndexError when it has no such page."""
    if kind == "pdf":
        with PDFIUM_LOCK:
            image = _render_pdf_page(blob, page, max_width)
    else:
        with Image.open(blob) as opened:
            if not 0 <= page < int(getattr(opened, "n_frames", 1)):
                raise IndexError(page)
            opened.seek(page)  # a multi-page TIFF's frames are its pages
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
        if image.width > max_width:
            height = max(1, round(image.height * max_width / image.width))
            image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _render_pdf_page(blob: Path, page: int, max_width: int) -> Image.Image:
    pdf = pdfium.PdfDocument(str(blob))
    try:
        if not 0 <= page < len(pdf):
            raise IndexError(page)
        pdf_page = pdf[page]
        try:
            width = max(pdf_page.get_width(), 1.0)
            scale = min(max_width / width, 3.0)
            bitmap = pdf_page.render(scale=scale)
            try:
                image = bitmap.to_pil().copy()  # owns its pixels after close
            finally:
                bitmap.close()
        finally:
            pdf_page.close()
    finally:
        pdf.close()
    return image

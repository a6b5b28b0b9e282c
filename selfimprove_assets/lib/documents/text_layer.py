"""Words from a PDF page's text layer, with boxes in the shared 0-1000 convention.

pdfium gives one box per character; words are runs of characters between whitespace, jumps
and line changes. Horizontally a word spans its glyph advances (the loose box), vertically its
ink (the tight box), which is what Tesseract reports for scans too.
"""

from __future__ import annotations

from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

from selfimprove_assets.lib.documents.ocr import normalize_box, reading_order
from selfimprove_assets.lib.types import BBox, Word


def _page_mapper(page: pdfium.PdfPage) -> Callable[[float, float, float, float], BBox]:
    """Map a PDF-space box (bottom-left origin) to the displayed page, honouring /Rotate."""
    left, bottom, right, top = page.get_cropbox() or page.get_mediabox() or (0, 0, 612, 792)
    width, height = max(right - left, 1e-6), max(top - bottom, 1e-6)
    rotation = page.get_rotation() % 360

    def to_display(x0: float, y0: float, x1: float, y1: float) -> BBox:
        # A box's extent as fractions of the page from each of its edges...
        from_left = ((x0 - left) / width, (x1 - left) / width)
        from_right = ((right - x1) / width, (right - x0) / width)
        from_bottom = ((y0 - bottom) / height, (y1 - bottom) / height)
        from_top = ((top - y1) / height, (top - y0) / height)
        # ...and which page edges a rotation turns into the displayed left and top edges:
        # (u, v) are fractions of the displayed width and height from the top left.
        (u0, u1), (v0, v1) = {
            90: (from_bottom, from_left),
            180: (from_right, from_bottom),
            270: (from_top, from_right),
        }.get(rotation, (from_left, from_top))
        return normalize_box(u0, v0, u1, v1, 1.0, 1.0)

    return to_display


def _page_text(textpage: pdfium.PdfTextPage, count: int) -> str:
    text = textpage.get_text_range(0, count)
    if len(text) == count:
        return text
    # get_text_range is UTF-16 based; when it does not line up with the char array (surrogate
    # pairs), read the chars one by one so indices and boxes stay aligned.
    return "".join(
        chr(pdfium_raw.FPDFText_GetUnicode(textpage.raw, i) or 0xFFFD) for i in range(count)
    )


def text_layer_words(page: pdfium.PdfPage, index: int) -> tuple[list[Word], int]:
    """Group the page's characters into words: a word ends at whitespace, a jump or a new line."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return [], 0
        text = _page_text(textpage, count)
        to_display = _page_mapper(page)
        words: list[Word] = []
        chars: list[str] = []
        box: list[float] = []
        visible = 0

        def flush() -> None:
            if chars:
                words.append(Word("".join(chars), to_display(*box[:4]), index))
                chars.clear()

        for i, ch in enumerate(text):
            if ch.isspace() or not ch.isprintable():
                flush()
                continue
            visible += 1
            lx0, ly0, lx1, ly1 = textpage.get_charbox(i, loose=True)
            tx0, ty0, tx1, ty1 = textpage.get_charbox(i)
            if ty1 <= ty0:  # no ink (or no glyph): fall back to the font's box
                ty0, ty1 = ly0, ly1
            if chars:
                line_height = max(ly1 - ly0, 1.0)
                gap = lx0 - box[2]
                same_line = abs((ly0 + ly1) / 2 - box[4]) < line_height / 2
                if not same_line or gap > line_height / 3 or gap < -line_height / 2:
                    flush()
            if chars:
                box[0], box[1] = min(box[0], lx0), min(box[1], ty0)
                box[2], box[3] = max(box[2], lx1), max(box[3], ty1)
            else:
                box = [lx0, ty0, lx1, ty1, (ly0 + ly1) / 2]
            chars.append(ch)
        flush()
        return reading_order(words), visible
    finally:
        textpage.close()

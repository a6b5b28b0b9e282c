"""Tesseract OCR and reading order for page words.

OCR output and text-layer output share one box convention so that a model trained on both
sees the same geometry: boxes are normalized to 0-1000 per page, origin at the top left, and
words come in reading order (lines top to bottom, words left to right within a line).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from statistics import median

from PIL import Image, ImageChops, ImageFilter, ImageStat

from selfimprove_assets.lib.types import BBox, Word

logger = logging.getLogger(__name__)

DEFAULT_MIN_CONFIDENCE = 30.0
"""Tesseract word confidence (0-100) below which a word is dropped as noise."""

SPECKLE_THRESHOLD = 1.0
"""Mean grey-level change a 3x3 median filter makes above which a page counts as speckled.

Clean renders and ordinary scans measure about 0.3-0.5; heavily speckled scans about 4, and on
those Tesseract's page segmentation takes the whole page for a picture and finds no text at
all, while the median-filtered page reads normally.
"""


def despeckle(image: Image.Image) -> Image.Image:
    """Median-filter a greyscale page when it is speckled; leave clean pages untouched."""
    filtered = image.filter(ImageFilter.MedianFilter(3))
    change = ImageStat.Stat(ImageChops.difference(image, filtered)).mean[0]
    return filtered if change > SPECKLE_THRESHOLD else image


def normalize_box(x0: float, y0: float, x1: float, y1: float, width: float, height: float) -> BBox:
    """Scale a top-left-origin box on a ``width`` x ``height`` page to integers in 0-1000."""

    def scale(value: float, extent: float) -> int:
        return max(0, min(1000, round(1000.0 * value / extent)))

    return (scale(x0, width), scale(y0, height), scale(x1, width), scale(y1, height))


def _limit_tesseract_threads() -> None:
    """Tesseract's OpenMP threads fight each other on small machines (4x slower on 2 cores).

    pytesseract passes ``os.environ`` to the subprocess and has no ``env`` argument, so the
    process-level flag is the only lever; an explicit setting by the operator wins.
    """
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def ocr_image(
    image: Image.Image,
    *,
    page: int = 0,
    lang: str = "eng",
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    timeout_s: int = 120,
) -> list[Word]:
    """OCR one page image with Tesseract and return its words in reading order.

    Words are grouped by Tesseract's own (block, paragraph, line) ids, which follow skewed scan
    lines better than clustering on y; lines are then ordered top to bottom.
    """
    import pytesseract

    _limit_tesseract_threads()
    gray = despeckle(image.convert("L") if image.mode != "L" else image)
    width, height = gray.size
    data = pytesseract.image_to_data(
        gray,
        lang=lang,
        config="--psm 3",
        output_type=pytesseract.Output.DICT,
        timeout=timeout_s,
    )
    lines: dict[tuple[int, int, int], list[tuple[int, Word]]] = {}
    for i, text in enumerate(data["text"]):
        token = str(text).strip()
        if not token:
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            continue
        if conf < min_confidence:
            continue
        left, top = int(data["left"][i]), int(data["top"][i])
        box = normalize_box(
            left, top, left + int(data["width"][i]), top + int(data["height"][i]), width, height
        )
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        lines.setdefault(key, []).append((left, Word(token, box, page)))
    ordered_lines = sorted(
        lines.values(), key=lambda ws: (min(w.bbox[1] for _, w in ws), min(x for x, _ in ws))
    )
    return [w for line in ordered_lines for _, w in sorted(line, key=lambda item: item[0])]


def reading_order(words: Sequence[Word]) -> list[Word]:
    """Order the words of one unskewed page into lines (top to bottom), left to right in each.

    A word joins the current line when its vertical centre lies within half a typical word
    height of the line's centre, so that captions and values of different font sizes on one
    baseline stay together.
    """
    if len(words) < 2:
        return list(words)
    typical = median(max(1, w.bbox[3] - w.bbox[1]) for w in words)
    by_center = sorted(words, key=lambda w: ((w.bbox[1] + w.bbox[3]) / 2, w.bbox[0]))
    lines: list[list[Word]] = []
    line_center = 0.0
    for word in by_center:
        center = (word.bbox[1] + word.bbox[3]) / 2
        if lines and abs(center - line_center) <= typical / 2:
            lines[-1].append(word)
            line_center = sum((w.bbox[1] + w.bbox[3]) / 2 for w in lines[-1]) / len(lines[-1])
        else:
            lines.append([word])
            line_center = center
    return [w for line in lines for w in sorted(line, key=lambda w: w.bbox[0])]

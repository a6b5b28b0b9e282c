"""Tesseract OCR and reading order for page words.

OCR output and text-layer output share one box convention so that a model trained on both
sees the same geometry: boxes are normalized to 0-1000 per page, origin at the top left, and
words come in reading order (lines top to bottom, words left to right within a line).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from PIL import Image, ImageChops, ImageFilter, ImageStat

from selfimprove_assets.lib.types import BBox, Word

logger = logging.getLogger(__name__)

DEFAULT_MIN_CONFIDENCE = 0.0
"""Tesseract word confidence (0-100) below which a word is dropped as noise.

Every word Tesseract reports is kept by default. A word it doubts is usually still a word on
the page, and its box tells a model where a field is even when its spelling is off. At 30 (the
old default) 40 FUNSD forms lost 2 points of word recall and 3 of entity alignment, and the
noisy synthetic scans 2 points of alignment; the price is about 10% more words, a third of
them punctuation or specks.
"""

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


PAPER_SIZES_IN: dict[str, tuple[float, float]] = {"letter": (8.5, 11.0), "a4": (8.27, 11.69)}
"""(short side, long side) in inches of the pages a scan is assumed to show."""

PAPER_ASPECT_TOLERANCE = 0.12
"""How far (short/long) may stray from a paper's aspect for a pixel-size estimate to be made."""

MAX_UPSCALE = 4.0
MAX_UPSCALED_PIXELS = 40_000_000


def estimate_dpi(image: Image.Image) -> float | None:
    """The scan resolution of a page image, or None when it cannot be told.

    The image's own dpi tag wins when it is plausible (it implies a page no longer than
    17 inches; a 72-dpi default on a 300-dpi scan would imply a 45-inch page). Otherwise the
    pixel size is read as a letter or A4 page, whichever aspect is closer; an image whose
    aspect matches neither (a cropped field, a receipt) gets None.
    """
    width, height = image.size
    short, long = sorted((width, height))
    if short <= 0:
        return None
    info = image.info.get("dpi")
    if isinstance(info, tuple) and len(info) == 2:
        try:
            tagged = float(info[0]), float(info[1])  # pyright: ignore[reportUnknownArgumentType]
        except (TypeError, ValueError):
            tagged = (0.0, 0.0)
        dpi = min(tagged)
        if 50 <= dpi <= 2400 and long / dpi <= 17.0:
            return dpi
    aspect = short / long
    paper_short, paper_long = min(
        PAPER_SIZES_IN.values(), key=lambda size: abs(size[0] / size[1] - aspect)
    )
    if abs(paper_short / paper_long - aspect) > PAPER_ASPECT_TOLERANCE:
        return None
    return (short / paper_short + long / paper_long) / 2


def upscale_to_dpi(
    image: Image.Image, dpi: float | None, target_dpi: float, min_dpi: float
) -> Image.Image:
    """Lanczos-upscale a scan below ``min_dpi`` to ``target_dpi``; leave others untouched.

    Tesseract's recognizer is tuned for text around 300 dpi; at 100 dpi the strokes of small
    print are one pixel wide and whole words come back empty. The factor is capped
    (``MAX_UPSCALE``, ``MAX_UPSCALED_PIXELS``) so that a mis-estimated page cannot explode.
    """
    if dpi is None or dpi <= 0 or dpi >= min_dpi:
        return image
    factor = min(target_dpi / dpi, MAX_UPSCALE)
    width, height = image.size
    factor = min(factor, (MAX_UPSCALED_PIXELS / max(1, width * height)) ** 0.5)
    if factor <= 1.05:
        return image
    size = (round(width * factor), round(height * factor))
    return image.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class OcrSettings:
    """How a page image is prepared for Tesseract and which of its words are kept.

    ``target_dpi``/``min_dpi``: scans estimated below ``min_dpi`` are upscaled to
    ``target_dpi`` (``min_dpi=0`` turns upscaling off). ``psm``: Tesseract's page segmentation
    mode (3 = automatic layout, 11 = sparse text). ``min_confidence``: words Tesseract scores
    below this (0-100) are dropped. ``despeckle``: median-filter pages at or above ``min_dpi``
    that test as speckled (``despeckle``).

    Measured on 40 FUNSD forms (``benchmarks/bench_ocr.py``, confidence floor 30): 200 dpi
    instead of 300 reads fewer words (0.713 vs 0.725 word recall); a global Otsu or a local
    Sauvola binarization before Tesseract reads fewer (0.714, 0.682) and Sauvola costs seconds
    a page; psm 11 reads as many on FUNSD but loses 14 points on the noisy synthetic scans; a
    confidence floor of 30 or 10 reads fewer on all three corpora.
    """

    target_dpi: float = 300.0
    min_dpi: float = 150.0
    psm: int = 3
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    despeckle: bool = True


def prepare_image(
    image: Image.Image, settings: OcrSettings, dpi: float | None = None
) -> Image.Image:
    """Greyscale, then upscale a low-resolution scan or despeckle any other.

    An upscaled page is never despeckled: at 100 dpi the strokes of small print are a pixel
    wide, so every such page "looks" speckled to the median-filter test and the filter erases
    the text (FUNSD: word recall 0.62 without it, 0.28 with it); after upscaling the test
    no longer fires (FUNSD pages measure 0.1-0.5) and would only cost time.

    ``dpi`` is the known resolution (a PDF page rendered at a set dpi); None estimates it.
    """
    gray = image.convert("L") if image.mode != "L" else image
    if dpi is None:
        dpi = estimate_dpi(image)
    upscaled = upscale_to_dpi(gray, dpi, settings.target_dpi, settings.min_dpi)
    if upscaled is not gray:
        gray = upscaled
    elif settings.despeckle:
        gray = despeckle(gray)
    return gray


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
    min_confidence: float | None = None,
    timeout_s: int = 120,
    settings: OcrSettings | None = None,
    dpi: float | None = None,
) -> list[Word]:
    """OCR one page image with Tesseract and return its words in reading order.

    The page is prepared first (``prepare_image``: despeckle, upscale low-resolution scans);
    ``dpi`` is its resolution when known, else it is estimated. ``min_confidence`` overrides
    the settings' threshold. Boxes are normalized to the page, so upscaling does not move them.

    Words are grouped by Tesseract's own (block, paragraph, line) ids, which follow skewed scan
    lines better than clustering on y; lines are then ordered top to bottom.
    """
    import pytesseract

    _limit_tesseract_threads()
    settings = settings or OcrSettings()
    threshold = settings.min_confidence if min_confidence is None else min_confidence
    gray = prepare_image(image, settings, dpi)
    width, height = gray.size
    data = pytesseract.image_to_data(
        gray,
        lang=lang,
        config=f"--psm {settings.psm}",
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
        if conf < threshold:
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

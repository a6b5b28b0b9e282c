from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from selfimprove_assets.lib.documents.ocr import (
    MAX_UPSCALE,
    OcrSettings,
    estimate_dpi,
    ocr_image,
    prepare_image,
    upscale_to_dpi,
)
from selfimprove_assets.lib.documents.ocr_quality import word_recall
from selfimprove_assets.lib.documents.pages import extract_pages_from_bytes

LINES = [
    "Patient name: Margaret Holloway   Date of birth: 04/17/1962",
    "Member ID: QX-4471-2290   Group number: 88120",
    "Referring physician: Dr. Samuel Okafor, Internal Medicine",
    "Diagnosis: chronic obstructive pulmonary disease",
    "Requested service: pulmonary function testing",
    "Authorization number: 7731-B   Total charges: $1,284.50",
]


def _low_dpi_page(dpi: int = 90, points: float = 8.0) -> Image.Image:
    """A letter page of 8-point text drawn at 300 dpi, then scanned down to ``dpi``."""
    fine = 300
    page = Image.new("L", (int(8.5 * fine), 11 * fine), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=round(points * fine / 72))
    y = fine
    for line in LINES:
        draw.text((fine, y), line, fill=0, font=font)
        y += round(points * fine / 72 * 2.2)
    return page.resize((int(8.5 * dpi), 11 * dpi), Image.Resampling.BOX)


def test_resolution_is_read_from_the_dpi_tag_or_the_page_size() -> None:
    funsd_like = Image.new("L", (762, 1000), 255)
    assert estimate_dpi(funsd_like) == pytest.approx(90, abs=2)
    assert estimate_dpi(Image.new("L", (1700, 2200), 255)) == pytest.approx(200, abs=1)
    assert estimate_dpi(Image.new("L", (2200, 1700), 255)) == pytest.approx(200, abs=1)
    a4 = Image.new("L", (2480, 3508), 255)  # A4 at 300 dpi
    assert estimate_dpi(a4) == pytest.approx(300, abs=1)

    tagged = Image.new("L", (1275, 1650), 255)
    tagged.info["dpi"] = (150, 150)
    assert estimate_dpi(tagged) == 150
    bogus = Image.new("L", (2550, 3300), 255)
    bogus.info["dpi"] = (72, 72)  # a default tag: it would make this a 46-inch page
    assert estimate_dpi(bogus) == pytest.approx(300, abs=1)

    assert estimate_dpi(Image.new("L", (300, 1000), 255)) is None  # a strip, not a page


def test_only_low_resolution_scans_are_upscaled_and_never_past_the_caps() -> None:
    page = Image.new("L", (762, 1000), 255)
    up = upscale_to_dpi(page, 100.0, target_dpi=300, min_dpi=150)
    assert up.size == (2286, 3000)
    assert upscale_to_dpi(page, 200.0, target_dpi=300, min_dpi=150) is page
    assert upscale_to_dpi(page, None, target_dpi=300, min_dpi=150) is page
    assert upscale_to_dpi(page, 100.0, target_dpi=300, min_dpi=0) is page
    tiny = upscale_to_dpi(page, 10.0, target_dpi=300, min_dpi=150)
    assert tiny.size == (round(762 * MAX_UPSCALE), round(1000 * MAX_UPSCALE))

    prepared = prepare_image(page, OcrSettings())  # estimated at ~90 dpi
    assert prepared.size[1] == pytest.approx(3300, rel=0.01)


def test_upscaling_a_low_resolution_scan_reads_more_of_its_words() -> None:
    page = _low_dpi_page()
    as_scanned = ocr_image(page, settings=OcrSettings(min_dpi=0))
    before, total = word_recall(LINES, as_scanned)
    png = io.BytesIO()
    page.save(png, format="PNG")
    prepared = extract_pages_from_bytes(png.getvalue()).words  # estimated ~90 dpi, upscaled
    after, _ = word_recall(LINES, prepared)
    assert after >= 0.9 * total
    assert after > before + 0.2 * total
    assert all(0 <= v <= 1000 for w in prepared for v in w.bbox)
    patient = next(w for w in prepared if w.text == "Margaret")
    x0, y0, _, _ = patient.bbox  # drawn at 1 inch from the left, 1 inch from the top
    assert 100 < x0 < 400 and 80 < y0 < 120

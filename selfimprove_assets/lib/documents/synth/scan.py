"""Turn a generated PDF into a scan: raster only, slightly rotated, noisy, no text layer.

The word and entity boxes are rotated with the page, so the labels of a scan still point at
the right pixels.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import replace

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from selfimprove_assets.lib.documents.ocr import normalize_box
from selfimprove_assets.lib.types import BBox, Entity, Word

SCAN_DPI = 200


def _rotate_box(box: BBox, angle: float, size: tuple[int, int]) -> BBox:
    """Where a box lands after ``Image.rotate(angle)`` (counter-clockwise, about the centre)."""
    width, height = size
    cx, cy = width / 2, height / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs, ys = [], []
    for nx, ny in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
        dx, dy = nx * width / 1000 - cx, ny * height / 1000 - cy
        xs.append(cx + dx * cos + dy * sin)
        ys.append(cy - dx * sin + dy * cos)
    return normalize_box(min(xs), min(ys), max(xs), max(ys), width, height)


def _degrade(
    image: Image.Image, rng: random.Random, noise_level: float
) -> tuple[Image.Image, float]:
    angle = rng.uniform(-1.0, 1.0) * noise_level
    rotated = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    if noise_level > 1.0:
        rotated = rotated.filter(ImageFilter.GaussianBlur(radius=0.4 * noise_level))
    noise = np.random.default_rng(rng.randrange(2**32))
    pixels = np.asarray(rotated, dtype=np.float32)
    pixels += noise.standard_normal(pixels.shape, dtype=np.float32) * (12.0 * noise_level)
    # A scanner's background removal whitens the paper; the noise stays on and around the ink,
    # which keeps files small while degrading exactly what OCR has to read.
    pixels[pixels > 200.0 + 10.0 * noise_level] = 255.0
    speckle = noise.random(pixels.shape, dtype=np.float32) < 0.0005 * noise_level
    pixels[speckle] = 40.0
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L"), angle


def make_scan(
    pdf_bytes: bytes,
    words: list[Word],
    entities: list[Entity],
    *,
    rng: random.Random,
    noise_level: float,
    image_format: str,
) -> tuple[bytes, str, list[Word], list[Entity]]:
    """Rasterize and degrade every page; return (bytes, file suffix, moved words, moved entities).

    Single-page documents become a PNG or JPEG as asked; multi-page ones (and ``pdf``) an
    image-only PDF.
    """
    pdf = pdfium.PdfDocument(pdf_bytes)
    pages: list[Image.Image] = []
    new_words: list[Word] = []
    new_entities: list[Entity] = []
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            bitmap = page.render(scale=SCAN_DPI / 72, grayscale=True)  # pyright: ignore[reportArgumentType]
            image = bitmap.to_pil().convert("L")
            bitmap.close()
            page.close()
            degraded, angle = _degrade(image, rng, noise_level)
            pages.append(degraded)
            new_words += [
                replace(w, bbox=_rotate_box(w.bbox, angle, image.size))
                for w in words
                if w.page == index
            ]
            new_entities += [
                replace(e, bbox=_rotate_box(e.bbox, angle, image.size))
                for e in entities
                if e.page == index and e.bbox is not None
            ]
    finally:
        pdf.close()
    out = io.BytesIO()
    if len(pages) == 1 and image_format == "png":
        pages[0].save(out, format="PNG", compress_level=3)
        return out.getvalue(), ".png", new_words, new_entities
    if len(pages) == 1 and image_format == "jpeg":
        pages[0].save(out, format="JPEG", quality=85)
        return out.getvalue(), ".jpg", new_words, new_entities
    pages[0].save(out, format="PDF", resolution=SCAN_DPI, save_all=True, append_images=pages[1:])
    return out.getvalue(), ".pdf", new_words, new_entities

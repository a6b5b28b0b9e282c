"""Page extraction: the words of a PDF, PNG or JPEG with their boxes, in reading order.

PDF pages with a text layer are read through pdfium (fast, exact); pages without one, and
images, go through Tesseract. Every box follows one convention (see ``ocr.py``): 0-1000 per
page, top-left origin. For text-layer words the horizontal extent is the glyph advance and the
vertical extent the ink, which is what OCR reports too, so both sources look alike to a model.

Inputs are untrusted uploads: the type comes from magic bytes, and every limit (bytes, pages,
pixels) is checked before the expensive work it guards.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from PIL import Image, ImageOps

from selfimprove_assets.lib.documents.ocr import OcrSettings, ocr_image
from selfimprove_assets.lib.documents.text_layer import text_layer_words
from selfimprove_assets.lib.types import PageWords, Word

logger = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000
"""Largest image (or rendered page) we decode: a letter page at 600 dpi is about 34 Mpx."""

# Pillow's own guard is process-wide; set it explicitly rather than rely on its default, and
# check sizes ourselves (``_open_image``) so the error names the file.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

DEFAULT_MAX_PAGES = 500
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_OCR_DPI = 200
MIN_TEXT_CHARS = 3
"""A page whose text layer has fewer visible characters than this is OCR'd instead."""

EXTRACTION_VERSION = 2
"""Bumped whenever the words extracted from the same bytes change; caches keyed by content
(``PageStore``) treat words from another version as missing. 2: low-resolution scans upscaled,
no speckle filter on them, every OCR word kept."""

_STATUS_BY_KIND = {
    "unsupported_type": 415,
    "too_large": 413,
    "too_many_pages": 413,
    "decompression_bomb": 413,
    "encrypted": 422,
    "empty": 422,
    "corrupted": 422,
    "not_found": 404,
    "ocr_failed": 422,
}


# PDFium is not thread-safe (pypdfium2 adds no locking): every call into it in this process,
# the API's threadpool included, holds this lock. Tesseract runs outside it.
PDFIUM_LOCK = threading.RLock()


class DocumentError(Exception):
    """A document that cannot be read, with the input named and the reason spelled out.

    ``kind`` is a stable code (``unsupported_type``, ``too_large``, ``too_many_pages``,
    ``decompression_bomb``, ``encrypted``, ``empty``, ``corrupted``, ``not_found``,
    ``ocr_failed``) and ``status_code`` the HTTP status an API should answer with.
    """

    def __init__(self, path: Path | str, reason: str, kind: str = "corrupted") -> None:
        super().__init__(str(path), reason, kind)
        self.path = str(path)
        self.reason = reason
        self.kind = kind

    @property
    def status_code(self) -> int:
        return _STATUS_BY_KIND.get(self.kind, 422)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def detect_type(head: bytes) -> str | None:
    """Name the file type from its first bytes: ``pdf``, ``png``, ``jpeg``, ``tiff`` or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    # The PDF header may follow a little junk; readers accept it within the first KiB.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return None


class ExtractOptions(TypedDict, total=False):
    """The limits and OCR settings of an extraction, as ``extract_pages_from_bytes`` takes them
    (and defaults them); ``extract_pages``, ``extract_many`` and the page store pass them on."""

    max_pages: int
    max_bytes: int
    ocr_dpi: int
    max_pixels: int
    min_text_chars: int
    ocr_settings: OcrSettings | None


def extract_pages(path: Path, **options: Unpack[ExtractOptions]) -> PageWords:
    """Extract the words of the document at ``path``; raise DocumentError when it is unusable.

    ``options`` are those of ``extract_pages_from_bytes``; the byte limit is checked on the
    file's size before it is read.
    """
    path = Path(path)
    max_bytes = options.get("max_bytes", DEFAULT_MAX_BYTES)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DocumentError(path, "file not found", "not_found") from None
    if size > max_bytes:
        raise DocumentError(
            path, f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes", "too_large"
        )
    return extract_pages_from_bytes(path.read_bytes(), name=str(path), **options)


def extract_pages_from_bytes(
    data: bytes,
    *,
    name: str = "<upload>",
    max_pages: int = DEFAULT_MAX_PAGES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ocr_dpi: int = DEFAULT_OCR_DPI,
    max_pixels: int = MAX_IMAGE_PIXELS,
    min_text_chars: int = MIN_TEXT_CHARS,
    ocr_settings: OcrSettings | None = None,
) -> PageWords:
    """The words of a document already in memory (an API upload); raise DocumentError when it
    is unusable. ``ocr_settings`` say how scanned pages are prepared and read (default
    ``OcrSettings()``)."""
    if len(data) > max_bytes:
        raise DocumentError(
            name, f"file is {len(data):,} bytes, over the limit of {max_bytes:,} bytes", "too_large"
        )
    if not data:
        raise DocumentError(name, "file is empty", "empty")
    kind = detect_type(data[:1024])
    if kind is None:
        raise DocumentError(
            name, "unsupported type: expected a PDF, PNG, JPEG or TIFF file", "unsupported_type"
        )
    if kind == "pdf":
        return _extract_pdf(
            data, name, max_pages, ocr_dpi, max_pixels, min_text_chars, ocr_settings
        )
    if kind == "tiff":
        return _extract_tiff(data, name, max_pages, max_pixels, ocr_settings)
    image = _open_image(data, name, max_pixels)
    words = ocr_image(image, page=0, settings=ocr_settings)
    return PageWords(words=words, page_count=1, ocr_pages=[0])


def _extract_tiff(
    data: bytes, name: str, max_pages: int, max_pixels: int, ocr_settings: OcrSettings | None
) -> PageWords:
    """A (multi-page) TIFF, e.g. a fax: every frame is a page, OCR'd like an image."""
    try:
        with Image.open(io.BytesIO(data)) as tiff:
            page_count = int(getattr(tiff, "n_frames", 1))
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(name, f"corrupted TIFF: {exc}", "corrupted") from None
    if page_count > max_pages:
        raise DocumentError(
            name,
            f"TIFF has {page_count:,} pages, over the limit of {max_pages:,}",
            "too_many_pages",
        )
    words: list[Word] = []
    for index in range(page_count):
        image = _open_image(data, name, max_pixels, frame=index)
        words += ocr_image(image, page=index, settings=ocr_settings)
    return PageWords(words=words, page_count=page_count, ocr_pages=list(range(page_count)))


def _open_image(data: bytes, name: str, max_pixels: int, frame: int = 0) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.seek(frame)
            width, height = image.size
            if width * height > max_pixels:
                raise DocumentError(
                    name,
                    f"image is {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,} (decompression bomb?)",
                    "decompression_bomb",
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except DocumentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DocumentError(name, f"decompression bomb: {exc}", "decompression_bomb") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(name, f"corrupted image: {exc}", "corrupted") from None
    if width == 0 or height == 0:
        raise DocumentError(name, "image has no pixels", "empty")
    return image


def _open_pdf(data: bytes, name: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_raw.FPDF_ERR_PASSWORD:
            raise DocumentError(
                name, "PDF is encrypted with a password; upload an unprotected copy", "encrypted"
            ) from None
        raise DocumentError(name, f"corrupted PDF: {exc}", "corrupted") from None


def _extract_pdf(
    data: bytes,
    name: str,
    max_pages: int,
    ocr_dpi: int,
    max_pixels: int,
    min_text_chars: int,
    ocr_settings: OcrSettings | None = None,
) -> PageWords:
    """Text layers and page renders under ``PDFIUM_LOCK``; Tesseract runs outside it."""
    per_page: list[list[Word]] = []
    to_ocr: list[tuple[int, Image.Image]] = []
    with PDFIUM_LOCK:
        pdf = _open_pdf(data, name)
        try:
            page_count = len(pdf)
            if page_count == 0:
                raise DocumentError(name, "PDF has zero pages", "empty")
            if page_count > max_pages:
                raise DocumentError(
                    name,
                    f"PDF has {page_count:,} pages, over the limit of {max_pages:,}",
                    "too_many_pages",
                )
            for index in range(page_count):
                try:
                    page = pdf[index]
                except pdfium.PdfiumError as exc:
                    raise DocumentError(
                        name, f"page {index + 1} is corrupted: {exc}", "corrupted"
                    ) from None
                try:
                    page_words, visible_chars = text_layer_words(page, index)
                    if visible_chars < min_text_chars:
                        to_ocr.append(
                            (index, _render_for_ocr(page, index, name, ocr_dpi, max_pixels))
                        )
                        page_words = []
                    per_page.append(page_words)
                finally:
                    page.close()
        finally:
            pdf.close()
    for index, image in to_ocr:
        per_page[index] = ocr_image(image, page=index, settings=ocr_settings, dpi=ocr_dpi)
    words = [w for page_words in per_page for w in page_words]
    return PageWords(words=words, page_count=len(per_page), ocr_pages=[i for i, _ in to_ocr])


def _render_for_ocr(
    page: pdfium.PdfPage, index: int, name: str, dpi: int, max_pixels: int
) -> Image.Image:
    scale = dpi / 72.0
    width, height = page.get_size()
    pixels = int(width * scale) * int(height * scale)
    if pixels > max_pixels:
        raise DocumentError(
            name,
            f"page {index + 1} would render to {pixels:,} pixels at {dpi} dpi, over the limit of "
            f"{max_pixels:,} (decompression bomb?)",
            "decompression_bomb",
        )
    # pypdfium2 annotates scale as int but documents (and accepts) floats
    bitmap = page.render(scale=scale, grayscale=True)  # pyright: ignore[reportArgumentType]
    try:
        return bitmap.to_pil().copy()  # owns its pixels once the bitmap is closed
    finally:
        bitmap.close()


@dataclass
class ExtractResult:
    """The outcome for one file of a batch: its words, or the error that stopped it."""

    path: Path
    pages: PageWords | None = None
    error: DocumentError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _extract_one(path: Path, options: ExtractOptions) -> ExtractResult:
    """Worker entry point: never raises, so one bad file cannot stop a batch."""
    try:
        return ExtractResult(path, pages=extract_pages(path, **options))
    except DocumentError as exc:
        return ExtractResult(path, error=exc)
    except Exception as exc:  # a bug or a pdfium failure we did not foresee: report, go on
        logger.exception("unexpected failure extracting %s", path)
        return ExtractResult(path, error=DocumentError(path, f"extraction failed: {exc!r}"))


def extract_many(
    paths: Iterable[Path],
    workers: int = 2,
    *,
    on_result: Callable[[ExtractResult], None] | None = None,
    **options: Unpack[ExtractOptions],
) -> list[ExtractResult]:
    """Extract many files in a process pool; results come back in the order of ``paths``.

    OCR is CPU-bound and Tesseract runs single-threaded here, so a pool of processes (not
    threads) uses the cores. A file that crashes its worker (pdfium on a hostile PDF) is
    retried alone and reported as an error; the rest of the batch carries on. ``options`` are
    passed to ``extract_pages``; ``on_result`` is called as each file finishes (progress).
    """
    todo = [Path(p) for p in paths]
    results: dict[int, ExtractResult] = {}

    def record(i: int, result: ExtractResult) -> None:
        results[i] = result
        if on_result is not None:
            on_result(result)

    if workers <= 1:
        for i, path in enumerate(todo):
            record(i, _extract_one(path, options))
        return [results[i] for i in range(len(todo))]

    context = multiprocessing.get_context("spawn")  # no fork of a process that holds pdfium
    crashed: list[int] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {i: pool.submit(_extract_one, path, options) for i, path in enumerate(todo)}
        for i, future in futures.items():
            try:
                record(i, future.result())
            except BrokenProcessPool:
                crashed.append(i)
    for i in crashed:  # alone, so a crash is pinned on the file that caused it
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            try:
                record(i, pool.submit(_extract_one, todo[i], options).result())
            except BrokenProcessPool:
                record(
                    i,
                    ExtractResult(
                        todo[i], error=DocumentError(todo[i], "the reader crashed on this file")
                    ),
                )
    return [results[i] for i in range(len(todo))]

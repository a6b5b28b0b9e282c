"""SROIE (ICDAR 2019 receipts) into the labeled-corpus contract.

Conversion rules (also in the README): ``SRC`` holds ``img/<id>.jpg``, ``box/<id>.txt`` (one
OCR line per row: ``x1,y1,x2,y2,x3,y3,x4,y4,text``, a quadrilateral in pixels) and
``key/<id>.txt`` (or ``entities/``: JSON with ``company``, ``date``, ``address``, ``total``).
Every document is a ``receipt`` (``default_doc_type``). Each key becomes an entity with the
key's name as label and its value as text. Its box is the upright box around the lines that
spell the value (case and spacing ignored): one line equal to the value (for ``total`` the last
such line, since amounts repeat above the total; otherwise the first), else the first run of up
to 8 consecutive lines that together equal it (addresses span lines). A value no line spells
(e.g. ``TOTAL: 9.00`` on one line) gets no box; ``ingest`` then aligns it by its text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image

from selfimprove_assets.lib.documents.labels import LabeledDocument
from selfimprove_assets.lib.interchange.common import (
    ImportSummary,
    InterchangeError,
    copied_document,
    find_image,
    finish,
    pixels_to_thousandths,
)
from selfimprove_assets.lib.types import BBox, Entity, union_box

KEYS = ("company", "date", "address", "total")
LAST_MATCH_KEYS = ("total",)
MAX_RUN = 8
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().upper()


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_lines(path: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The OCR lines of a box file: text and the upright pixel box around its quadrilateral."""
    lines = []
    for number, row in enumerate(_read_text(path).splitlines(), start=1):
        if not row.strip():
            continue
        parts = row.split(",", 8)
        if len(parts) < 9:
            raise InterchangeError(f"{path}:{number}: expected x1,y1,...,x4,y4,text")
        try:
            coords = [float(v) for v in parts[:8]]
        except ValueError:
            raise InterchangeError(f"{path}:{number}: coordinates must be numbers") from None
        xs, ys = coords[0::2], coords[1::2]
        lines.append((parts[8].strip(), (min(xs), min(ys), max(xs), max(ys))))
    return lines


def locate(
    key: str, value: str, lines: list[tuple[str, tuple[float, float, float, float]]]
) -> tuple[float, float, float, float] | None:
    """The pixel box of the lines that spell ``value`` (rules in the module docstring)."""
    target = _norm(value)
    if not target:
        return None
    texts = [_norm(text) for text, _ in lines]
    exact = [i for i, text in enumerate(texts) if text == target]
    if exact:
        chosen = exact[-1] if key in LAST_MATCH_KEYS else exact[0]
        return lines[chosen][1]
    for start in range(len(lines)):
        joined = ""
        for end in range(start, min(start + MAX_RUN, len(lines))):
            joined = f"{joined} {texts[end]}".strip()
            if joined == target and end > start:
                return union_box([box for _, box in lines[start : end + 1]])
            if not target.startswith(joined):
                break
    return None


def _folder(src: Path, *names: str) -> Path:
    for name in names:
        if (src / name).is_dir():
            return src / name
    raise InterchangeError(f"{src}: no {' or '.join(n + '/' for n in names)} folder (SROIE layout)")


def import_sroie(src: Path, out_dir: Path, *, default_doc_type: str = "receipt") -> ImportSummary:
    src, out_dir = Path(src), Path(out_dir)
    images, boxes, keys = _folder(src, "img"), _folder(src, "box"), _folder(src, "key", "entities")
    summary = ImportSummary(out_dir=out_dir)
    docs: list[LabeledDocument] = []
    for key_file in sorted(keys.glob("*.txt")) + sorted(keys.glob("*.json")):
        doc_id = key_file.stem
        where = str(key_file.relative_to(src))
        image = find_image(images, doc_id, _IMAGE_SUFFIXES)
        if image is None:
            summary.skipped.append(f"{where}: no image {doc_id}.jpg in img/")
            continue
        try:
            values = json.loads(_read_text(key_file))
        except json.JSONDecodeError as exc:
            raise InterchangeError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(values, dict):
            raise InterchangeError(f"{where}: expected a JSON object of key fields")
        box_file = boxes / f"{doc_id}.txt"
        lines = read_lines(box_file) if box_file.is_file() else []
        if not box_file.is_file():
            summary.skipped.append(f"{where}: no box/{doc_id}.txt: entities get no boxes")
        with Image.open(image) as opened:
            size = opened.size
        entities = []
        for key in [k for k in KEYS if k in values] + sorted(set(values) - set(KEYS)):
            value = str(values[key] or "").strip()
            if not value:
                continue
            pixels = locate(key, value, lines)
            bbox: BBox | None = pixels_to_thousandths(pixels, *size) if pixels else None
            entities.append(Entity(label=key, text=value, page=0, bbox=bbox))
        docs.append(copied_document(image, out_dir, doc_id, default_doc_type, entities))
    return finish(out_dir, docs, summary)

"""A reportlab canvas that remembers the box of every word and entity it draws.

Boxes follow the extraction convention: 0-1000 per page, top-left origin, horizontal extent
the glyph advances, vertical extent the ink. The ink is estimated from the fonts' AFM metrics
(cap height, x-height, descender) by character class, which matches pdfium's tight boxes
within about one unit.
"""

from __future__ import annotations

import io
import re
import string
from dataclasses import dataclass

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from selfimprove_assets.lib.documents.ocr import normalize_box
from selfimprove_assets.lib.types import Entity, Word

FAMILIES: dict[str, tuple[str, str]] = {
    "Helvetica": ("Helvetica", "Helvetica-Bold"),
    "Times": ("Times-Roman", "Times-Bold"),
    "Courier": ("Courier", "Courier-Bold"),
}
# (cap height, x height, descender) per 1000 units of em, from the standard fonts' AFM files.
_INK: dict[str, tuple[int, int, int]] = {
    "Helvetica": (718, 523, 207),
    "Helvetica-Bold": (718, 532, 207),
    "Times-Roman": (662, 450, 217),
    "Times-Bold": (676, 461, 217),
    "Courier": (562, 426, 157),
    "Courier-Bold": (562, 439, 157),
}
_TALL = set(string.ascii_uppercase + string.digits + "bdfhklitj!?/()[]{}#$%&@|'\"")
_MID = set("acemnorsuvwxzgpqy:;")
_DESCENDING = set("gjpqy,;()[]{}$@|Q")


@dataclass(frozen=True)
class Unit:
    """A piece of a line: one word, or one entity value (``label`` set) that never wraps.

    ``entity_len`` is how many leading characters of ``text`` belong to the entity, so that
    punctuation glued to a value ("Smith,") is drawn with it but left out of its box.
    """

    text: str
    label: str | None = None
    entity_len: int = 0


def units_from_template(template: str, values: dict[str, str]) -> list[Unit]:
    """Turn "Dear {patient_name}, ..." into units, gluing trailing punctuation to values."""
    units: list[Unit] = []
    for piece in re.split(r"(\{\w+\})", template):
        if not piece:
            continue
        match = re.fullmatch(r"\{(\w+)\}", piece)
        if match:
            value = values[match.group(1)]
            units.append(Unit(value, match.group(1), len(value)))
            continue
        if units and units[-1].label and not piece.startswith(" "):
            glued, _, piece = piece.partition(" ")
            last = units[-1]
            units[-1] = Unit(last.text + glued, last.label, last.entity_len)
        units.extend(Unit(word) for word in piece.split())
    return units


def _ink(text: str, font: str, size: float) -> tuple[float, float]:
    """Ink above and below the baseline for ``text`` (points)."""
    cap, xh, desc = _INK[font]
    above = 0.3 * xh
    for ch in text:
        if ch in _TALL:
            above = max(above, cap)
        elif ch in _MID:
            above = max(above, xh)
    below = desc if any(ch in _DESCENDING for ch in text) else 0
    return above * size / 1000.0, below * size / 1000.0


class Drawer:
    """Draws text on letter-size (or any) pages and records word and entity boxes."""

    def __init__(self, pagesize: tuple[float, float]) -> None:
        self._buffer = io.BytesIO()
        self.canvas = Canvas(self._buffer, pagesize=pagesize, invariant=True)
        self.width, self.height = pagesize
        self.page = 0
        self.words: list[Word] = []
        self.entities: list[Entity] = []

    def _box(self, x0: float, x1: float, baseline: float, text: str, font: str, size: float):  # noqa: ANN202
        above, below = _ink(text, font, size)
        return normalize_box(x0, baseline - above, x1, baseline + below, self.width, self.height)

    def line(
        self, x: float, baseline: float, units: list[Unit], font: str, size: float, gray: float = 0
    ) -> float:
        """Draw units on one line (``baseline`` measured from the page top); return the end x."""
        text = " ".join(u.text for u in units)
        if not text:
            return x
        self.canvas.setFont(font, size)
        self.canvas.setFillGray(gray)
        self.canvas.drawString(x, self.height - baseline, text)

        def at(offset: int) -> float:
            return x + stringWidth(text[:offset], font, size)

        for match in re.finditer(r"\S+", text):
            start, end = match.span()
            box = self._box(at(start), at(end), baseline, match.group(), font, size)
            self.words.append(Word(match.group(), box, self.page))
        offset = 0
        for unit in units:
            if unit.label and unit.entity_len:
                value = unit.text[: unit.entity_len]
                box = self._box(at(offset), at(offset + len(value)), baseline, value, font, size)
                self.entities.append(Entity(unit.label, value, self.page, box))
            offset += len(unit.text) + 1
        self.canvas.setFillGray(0)
        return at(len(text))

    def text(
        self,
        x: float,
        baseline: float,
        text: str,
        font: str,
        size: float,
        label: str | None = None,
        gray: float = 0,
    ) -> float:
        """Draw a plain string, or an entity value when ``label`` is given."""
        if label:
            return self.line(x, baseline, [Unit(text, label, len(text))], font, size, gray)
        return self.line(x, baseline, [Unit(w) for w in text.split()], font, size, gray)

    def paragraph(
        self,
        x: float,
        baseline: float,
        width: float,
        units: list[Unit],
        font: str,
        size: float,
        leading: float,
    ) -> float:
        """Wrap units into lines no wider than ``width``; return the next free baseline."""
        space = stringWidth(" ", font, size)
        current: list[Unit] = []
        used = 0.0
        for unit in units:
            unit_width = stringWidth(unit.text, font, size)
            if current and used + space + unit_width > width:
                self.line(x, baseline, current, font, size)
                baseline += leading
                current, used = [], 0.0
            used += (space if current else 0.0) + unit_width
            current.append(unit)
        if current:
            self.line(x, baseline, current, font, size)
            baseline += leading
        return baseline

    def rect(self, x: float, top: float, width: float, height: float, gray: float = 0.0) -> None:
        self.canvas.setStrokeGray(gray)
        self.canvas.rect(x, self.height - top - height, width, height, stroke=1, fill=0)

    def hline(self, x0: float, x1: float, y: float) -> None:
        self.canvas.line(x0, self.height - y, x1, self.height - y)

    def new_page(self) -> None:
        self.canvas.showPage()
        self.page += 1

    def finish(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self._buffer.getvalue()

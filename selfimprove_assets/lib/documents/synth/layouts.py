"""Page layouts for synthetic documents: letter prose, boxed form, key-value table, compact.

Every layout places each of the type's entity values at least once and labels every place
where a value appears, so a word that looks like an entity is never silently left ``O``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase.pdfmetrics import stringWidth

from selfimprove_assets.lib.documents.synth.drawing import Drawer, Unit, units_from_template
from selfimprove_assets.lib.documents.synth.vocab import DocTypeSpec, captions, titles

Cell = tuple[str, str | None]  # text, entity label


@dataclass
class ContentTable:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def labels(self) -> set[str]:
        return {label for row in self.rows for _, label in row if label}


@dataclass
class Style:
    regular: str
    bold: str
    size: float
    title_size: float
    vocabulary: str
    rng: random.Random

    def caption(self, label: str) -> str:
        return self.rng.choice(captions(label, self.vocabulary))

    def title(self, spec: DocTypeSpec) -> str:
        return self.rng.choice(titles(spec, self.vocabulary))


MARGIN = 54.0
BASE_LAYOUTS = ("letter", "form", "table")
ALL_LAYOUTS = (*BASE_LAYOUTS, "compact")


def draw(
    layout: str,
    spec: DocTypeSpec,
    values: dict[str, str],
    table: ContentTable,
    style: Style,
) -> Drawer:
    """Draw one document in ``layout`` and return the drawer holding its bytes and boxes."""
    painter = {"letter": _letter, "form": _form, "table": _kv_table, "compact": _compact}[layout]
    drawer = Drawer(landscape(letter) if layout == "compact" else letter)
    painter(drawer, spec, values, table, style)
    return drawer


def _title(d: Drawer, spec: DocTypeSpec, style: Style, baseline: float, centered: bool) -> float:
    title = style.title(spec)
    x = MARGIN
    if centered:
        x = (d.width - stringWidth(title, style.bold, style.title_size)) / 2
    d.text(x, baseline, title, style.bold, style.title_size)
    return baseline + style.title_size * 1.8


def _notes(d: Drawer, spec: DocTypeSpec, style: Style, baseline: float) -> float:
    notes = style.rng.sample(spec.notes, k=min(2, len(spec.notes)))
    units = [Unit(w) for note in notes for w in note.split()]
    width = d.width - 2 * MARGIN
    return d.paragraph(MARGIN, baseline, width, units, style.regular, style.size, style.size * 1.4)


def _content_table(d: Drawer, table: ContentTable, style: Style, baseline: float) -> float:
    if not table.headers:
        return baseline
    width = d.width - 2 * MARGIN
    col = width / len(table.headers)
    leading = style.size * 1.7

    def header(y: float) -> float:
        for i, name in enumerate(table.headers):
            d.text(MARGIN + i * col, y, name, style.bold, style.size)
        d.hline(MARGIN, MARGIN + width, y + style.size * 0.5)
        return y + leading

    baseline = header(baseline)
    for row in table.rows:
        if baseline > d.height - MARGIN:
            d.new_page()
            baseline = header(MARGIN + style.size)
        for i, (text, label) in enumerate(row):
            if text:
                d.text(MARGIN + i * col, baseline, text, style.regular, style.size, label)
        baseline += leading
    return baseline + style.size


def _kv_line(d: Drawer, label: str, values: dict[str, str], style: Style, y: float) -> None:
    caption = style.caption(label) + ":"
    end = d.text(MARGIN, y, caption, style.bold, style.size)
    d.text(
        end + stringWidth(" ", style.regular, style.size),
        y,
        values[label],
        style.regular,
        style.size,
        label,
    )


def _letter(
    d: Drawer, spec: DocTypeSpec, values: dict[str, str], table: ContentTable, style: Style
) -> None:
    y = MARGIN + style.title_size
    if "facility_name" in values:
        d.text(
            MARGIN, y, values["facility_name"], style.bold, style.title_size - 2, "facility_name"
        )
        y += style.title_size * 1.5
    date_text = values["date_of_service"]
    date_x = d.width - MARGIN - stringWidth(date_text, style.regular, style.size)
    d.text(date_x, y, date_text, style.regular, style.size, "date_of_service")
    y = _title(d, spec, style, y + style.size * 2.5, centered=False)
    prose = " ".join(spec.prose)
    in_prose = set(re.findall(r"\{(\w+)\}", prose))
    signed = {"provider_name", "npi"} & set(values)
    shown = in_prose | table.labels() | signed | {"facility_name", "date_of_service"}
    for label in (lab for lab in spec.labels if lab in values and lab not in shown):
        _kv_line(d, label, values, style, y)
        y += style.size * 1.5
    y += style.size
    width = d.width - 2 * MARGIN
    y = d.paragraph(
        MARGIN,
        y,
        width,
        units_from_template(prose, values),
        style.regular,
        style.size,
        style.size * 1.45,
    )
    y = _notes(d, spec, style, y + style.size) + style.size
    y = _content_table(d, table, style, y)
    if signed:
        if y > d.height - MARGIN - 4 * style.size:
            d.new_page()
            y = MARGIN + style.size
        d.text(MARGIN, y, "Sincerely,", style.regular, style.size)
        y += style.size * 2.2
        if "provider_name" in values:
            d.line(
                MARGIN,
                y,
                [
                    Unit("Dr."),
                    Unit(values["provider_name"], "provider_name", len(values["provider_name"])),
                ],
                style.regular,
                style.size,
            )
            y += style.size * 1.4
        if "npi" in values:
            d.line(
                MARGIN,
                y,
                [Unit("NPI"), Unit(values["npi"], "npi", len(values["npi"]))],
                style.regular,
                style.size,
            )


def _form(
    d: Drawer, spec: DocTypeSpec, values: dict[str, str], table: ContentTable, style: Style
) -> None:
    y = _title(d, spec, style, MARGIN + style.title_size, centered=True)
    columns = style.rng.choice((2, 3))
    gap = 10.0
    box_w = (d.width - 2 * MARGIN - gap * (columns - 1)) / columns
    box_h = style.size * 3.0
    labels = [lab for lab in spec.labels if lab in values]
    for i, label in enumerate(labels):
        row, col = divmod(i, columns)
        left = MARGIN + col * (box_w + gap)
        top = y + row * (box_h + gap)
        d.rect(left, top, box_w, box_h, gray=0.4)
        small = max(6.0, style.size - 3)
        d.text(
            left + 4, top + small + 2, style.caption(label).upper(), style.regular, small, gray=0.35
        )
        value = values[label]
        size = style.size
        while size > 6 and stringWidth(value, style.regular, size) > box_w - 8:
            size -= 1
        d.text(left + 4, top + box_h - size * 0.6, value, style.regular, size, label)
    rows = -(-len(labels) // columns)
    y += rows * (box_h + gap) + style.size * 2
    y = _content_table(d, table, style, y)
    _notes(d, spec, style, y + style.size)


def _kv_table(
    d: Drawer, spec: DocTypeSpec, values: dict[str, str], table: ContentTable, style: Style
) -> None:
    y = _title(d, spec, style, MARGIN + style.title_size, centered=style.rng.random() < 0.5)
    y = _notes(d, spec, style, y) + style.size
    split = MARGIN + (d.width - 2 * MARGIN) * style.rng.choice((0.35, 0.4, 0.45))
    row_h = style.size * 1.9
    top = y
    for label in (lab for lab in spec.labels if lab in values):
        baseline = y + row_h * 0.68
        d.text(MARGIN + 4, baseline, style.caption(label), style.bold, style.size)
        d.text(split + 4, baseline, values[label], style.regular, style.size, label)
        d.hline(MARGIN, d.width - MARGIN, y)
        y += row_h
    d.hline(MARGIN, d.width - MARGIN, y)
    d.canvas.line(split, d.height - top, split, d.height - y)
    _content_table(d, table, style, y + style.size * 2.5)


def _compact(
    d: Drawer, spec: DocTypeSpec, values: dict[str, str], table: ContentTable, style: Style
) -> None:
    """The ``new_layout`` drift: landscape, title at the right, values above their captions."""
    title = style.title(spec).upper()
    x = d.width - MARGIN - stringWidth(title, style.bold, style.title_size)
    d.text(x, MARGIN, title, style.bold, style.title_size)
    d.hline(MARGIN, d.width - MARGIN, MARGIN + style.title_size * 0.6)
    y = MARGIN + style.title_size * 2.5
    columns = 4
    col_w = (d.width - 2 * MARGIN) / columns
    labels = [lab for lab in spec.labels if lab in values]
    small = max(6.0, style.size - 3)
    for i, label in enumerate(labels):
        row, col = divmod(i, columns)
        left = MARGIN + col * col_w
        base = y + row * style.size * 3.6
        value = values[label]
        size = style.size + 1
        while size > 6 and stringWidth(value, style.bold, size) > col_w - 8:
            size -= 1
        d.text(left, base, value, style.bold, size, label)
        d.text(
            left, base + small * 1.5, style.caption(label).lower(), style.regular, small, gray=0.4
        )
    y += (-(-len(labels) // columns)) * style.size * 3.6 + style.size
    y = _content_table(d, table, style, y)
    _notes(d, spec, style, y)

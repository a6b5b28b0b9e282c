"""Geometry of a page's words: their text lines (segments), for the line-box input channel,
and the order the model reads them in.

A line is a run of consecutive words (in the order the model reads them) on one page that sit
on the same text line and follow each other closely: the next word overlaps the previous one
vertically by at least half the smaller height, starts at most half a word height to its left
and at most ``MAX_GAP`` word heights to its right. A wider gap (a form's question and its
answer, two columns) starts a new line.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfimprove_assets.lib.types import BBox, union_box

MAX_GAP = 1.5  # in word heights
MIN_OVERLAP = 0.5  # vertical overlap, as a share of the smaller height
MAX_BACKSTEP = 0.5  # how far (in word heights) the next word may start left of the previous end


def same_line(prev: BBox, cur: BBox) -> bool:
    """Whether ``cur`` continues the text line that ``prev`` ends."""
    height = max(prev[3] - prev[1], cur[3] - cur[1], 1)
    overlap = min(prev[3], cur[3]) - max(prev[1], cur[1])
    smaller = max(min(prev[3] - prev[1], cur[3] - cur[1]), 1)
    gap = cur[0] - prev[2]
    return overlap >= MIN_OVERLAP * smaller and -MAX_BACKSTEP * height <= gap <= MAX_GAP * height


def line_groups(boxes: Sequence[BBox], pages: Sequence[int]) -> list[list[int]]:
    """Word indices grouped into lines, each line consecutive in the given order."""
    groups: list[list[int]] = []
    for i, box in enumerate(boxes):
        if groups and pages[i] == pages[i - 1] and same_line(boxes[i - 1], box):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def line_boxes(boxes: Sequence[BBox], pages: Sequence[int]) -> list[BBox]:
    """Each word's line box: the union of the boxes of the words on its line."""
    if len(pages) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(pages)} pages")
    out: list[BBox] = list(boxes)
    for group in line_groups(boxes, pages):
        box = union_box([boxes[i] for i in group])
        for i in group:
            out[i] = box
    return out


# Reading order. "given": the words' own order (OCR lines within Tesseract's blocks, or a
# corpus's given words); "xycut": blocks of the page found by recursive XY-cuts, then lines
# top to bottom and words left to right within each block.
GIVEN = "given"
XYCUT = "xycut"
READING_ORDERS = (GIVEN, XYCUT)
COLUMN_GAP = 2.0  # a vertical cut needs a clear gap this many (median) word heights wide


def check_reading_order(order: str) -> str:
    if order not in READING_ORDERS:
        raise ValueError(f"reading_order must be one of {READING_ORDERS}, got {order!r}")
    return order


def _widest_gap(block: list[int], boxes: Sequence[BBox], axis: int) -> tuple[int, int]:
    """``(size, cut)`` of the widest band along ``axis`` (0: x, 1: y) that no word of
    ``block`` covers; words starting before ``cut`` lie on its near side. ``(0, 0)``: none."""
    spans = sorted((boxes[i][axis], boxes[i][axis + 2]) for i in block)
    best = (0, 0)
    reach = spans[0][1]
    for lo, hi in spans[1:]:
        if lo - reach > best[0]:
            best = (lo - reach, lo)
        reach = max(reach, hi)
    return best


def _lines_in_block(block: list[int], boxes: Sequence[BBox]) -> list[int]:
    """A block's words, lines top to bottom (a word joins the line whose vertical span holds
    its centre) and words left to right."""
    lines: list[tuple[int, int, list[int]]] = []  # top, bottom, members
    for i in sorted(block, key=lambda i: (boxes[i][1] + boxes[i][3], boxes[i][0])):
        centre = (boxes[i][1] + boxes[i][3]) / 2
        if lines and lines[-1][0] <= centre <= lines[-1][1]:
            top, bottom, members = lines[-1]
            lines[-1] = (top, max(bottom, boxes[i][3]), [*members, i])
        else:
            lines.append((boxes[i][1], boxes[i][3], [i]))
    return [i for _, _, members in lines for i in sorted(members, key=lambda i: boxes[i][0])]


def xycut_order(boxes: Sequence[BBox], pages: Sequence[int]) -> list[int]:
    """Word indices in XY-cut reading order, page by page.

    A block is cut at its widest empty band, across (between rows) or down (between columns,
    only where the band is at least ``COLUMN_GAP`` median word heights wide), until no band is
    left; each remaining block is read line by line."""
    if len(pages) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(pages)} pages")
    heights = sorted(max(b[3] - b[1], 1) for b in boxes)
    min_column_gap = COLUMN_GAP * heights[len(heights) // 2] if heights else 0.0
    order: list[int] = []
    for page in sorted(set(pages)):
        stack = [[i for i, p in enumerate(pages) if p == page]]
        while stack:
            block = stack.pop()
            across, down = _widest_gap(block, boxes, 1), _widest_gap(block, boxes, 0)
            if down[0] < min_column_gap:
                down = (0, 0)
            axis, (size, cut) = (1, across) if across[0] >= down[0] else (0, down)
            if size <= 0:
                order.extend(_lines_in_block(block, boxes))
                continue
            near = [i for i in block if boxes[i][axis] < cut]
            stack.extend([[i for i in block if boxes[i][axis] >= cut], near])
    return order

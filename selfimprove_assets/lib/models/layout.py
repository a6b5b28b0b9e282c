"""Geometry of a page's words: their text lines (segments), for the line-box input channel.

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

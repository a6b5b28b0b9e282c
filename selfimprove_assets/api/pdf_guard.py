"""Refuse PDF "zip bombs" before pdfium inflates them.

Deflate compresses a run of one byte about 1000:1, so a 20 MB upload can hold a content stream
of 20 GB that pdfium would inflate in memory while reading the text layer (measured: 200 MB of
blanks in a 200 KB file took seconds and all of that memory). The byte, page and pixel limits
do not see it. ``check_inflated_size`` finds every ``stream … endstream`` body, inflates the
zlib ones in bounded chunks and stops as soon as the total passes the limit, so the check costs
at most ``limit`` bytes of work and a few MB of memory whatever the file claims.

It is a guard, not a parser: a stream it cannot inflate (another filter, not zlib, corrupt) is
skipped and left to pdfium, which reports corruption on its own.
"""

from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n")
_CHUNK = 1 << 20


class InflationBomb(Exception):
    """The PDF's compressed streams inflate past the limit."""

    def __init__(self, inflated: int, limit: int) -> None:
        super().__init__(
            f"PDF streams inflate to more than {limit:,} bytes (at least {inflated:,} seen); "
            "refused as a decompression bomb"
        )
        self.inflated = inflated
        self.limit = limit


def _inflate_bounded(data: bytes, start: int, budget: int) -> tuple[int, int]:
    """Inflate the zlib stream at ``start``; return (bytes out, offset where the scan goes on).

    Stops as soon as more than ``budget`` bytes came out. Not zlib: (0, start).
    """
    inflater = zlib.decompressobj()
    produced = 0
    offset = start
    view = memoryview(data)
    try:
        while offset < len(data) and produced <= budget:
            window = view[offset : offset + 4 * _CHUNK]
            out = inflater.decompress(window, _CHUNK)
            produced += len(out)
            consumed = len(window) - len(inflater.unconsumed_tail) - len(inflater.unused_data)
            offset += consumed
            if inflater.eof or (not out and consumed == 0):
                break
    except zlib.error:
        pass  # not zlib, or corrupt: pdfium will judge it
    return produced, offset


def check_inflated_size(data: bytes, limit: int) -> int:
    """Total inflated size of the zlib streams in ``data``; ``InflationBomb`` past ``limit``."""
    total = 0
    position = 0
    while True:
        match = _STREAM.search(data, position)
        if match is None:
            return total
        start = match.end()
        produced, end = _inflate_bounded(data, start, limit - total)
        total += produced
        if total > limit:
            raise InflationBomb(total, limit)
        position = max(end, start)

"""Page images for the review page: one PNG per page (``lib.documents.render``), rendered
once and cached beside the blobs."""

from __future__ import annotations

from pathlib import Path

from selfimprove_assets.api.storage import atomic_write
from selfimprove_assets.lib.documents.render import render_page_png


def cached_page_png(blob: Path, kind: str, page: int, cache_dir: Path, digest: str) -> bytes:
    path = cache_dir / digest[:2] / f"{digest}-p{page}.png"
    if path.is_file():
        return path.read_bytes()
    data = render_page_png(blob, kind, page)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return data

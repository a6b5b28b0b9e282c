"""Uploaded files, content-addressed.

A blob's path is derived only from its sha256 (``blobs/ab/abcdef....pdf``), so uploading the
same file twice stores it once and the client's filename never becomes a path. (The words of a
blob are cached by the documents library's ``PageStore`` under the same hash.) Writes go to a
temporary file first and are renamed into place, so a crash never leaves a half-written file
under a final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
}
EXTENSIONS = {"pdf": ".pdf", "png": ".png", "jpeg": ".jpg", "tiff": ".tif"}
_HASH = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sanitize_filename(name: str | None, max_length: int = 255) -> str | None:
    """A display-only version of the client's filename: no directories, no control characters.

    It is stored for people to read; it is never joined to a path.
    """
    if not name:
        return None
    name = unicodedata.normalize("NFKC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().lstrip(".").strip()
    return name[:max_length] or None


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BlobStore:
    """Content-addressed files under ``root``; the hash is validated before it names a path."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: str, kind: str) -> Path:
        if not _HASH.match(digest):
            raise ValueError("not a sha256 hex digest")
        return self.root / digest[:2] / f"{digest}{EXTENSIONS[kind]}"

    def put(self, data: bytes, kind: str, digest: str | None = None) -> Path:
        digest = digest or sha256_hex(data)
        path = self.path_for(digest, kind)
        if not path.exists():
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        return path

"""Label Studio's JSON export into the labeled-corpus contract.

Conversion rules (also in the README):

- One task is one document. Its file is ``data.image`` (or the first string in ``data``), looked
  up beside the export: the path as written (``/data/upload/3/`` and ``/data/local-files/?d=``
  prefixes dropped), then by file name anywhere under the export's folder, then without the
  ``<8 hex>-`` prefix Label Studio puts on uploaded names. A task with ``data.pages`` (a
  multi-image task) becomes one multi-page TIFF; ``item_index`` on a region is its page.
- The annotation used is the last one not cancelled; tasks without one are skipped (reported).
- A region is the results sharing one ``id``: the box from ``rectanglelabels``/``rectangle``/
  ``labels`` (``x``, ``y``, ``width``, ``height`` in percent of the image; a rotated box becomes
  the upright box around it), the label from ``rectanglelabels`` or ``labels``, the text from a
  per-region ``textarea`` (lines joined by a space; empty when there is none: ``ingest`` then
  aligns by the box). Regions without a label are skipped.
- The document type is the first ``choices`` answer; without one, ``default_doc_type``.
- ``data.document_id`` (as ``selfimprove export --format label-studio`` writes) is the id, else
  the task's ``id``; ``data.unboxed_entities`` (entities without a box) are carried over.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from PIL import Image

from selfimprove_assets.lib.documents.labels import LabeledDocument
from selfimprove_assets.lib.interchange.common import (
    FILES_DIR,
    ImportSummary,
    InterchangeError,
    clip_box,
    copy_into,
    finish,
    safe_stem,
)
from selfimprove_assets.lib.types import BBox, Entity

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_BOX_TYPES = ("rectanglelabels", "rectangle", "labels")


def _local_name(reference: str) -> str:
    """The file path a Label Studio data value points at (URL prefixes removed)."""
    parsed = urlparse(reference)
    if parsed.path.endswith("/data/local-files/") or "d=" in parsed.query:
        found = parse_qs(parsed.query).get("d")
        if found:
            return unquote(found[0])
    path = unquote(parsed.path)
    for prefix in ("/data/upload/",):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path.lstrip("/")


def _find_file(root: Path, reference: str, index: dict[str, list[Path]]) -> Path | None:
    relative = _local_name(reference)
    direct = (root / relative).resolve()
    if relative and direct.is_relative_to(root) and direct.is_file():
        return direct
    name = Path(relative).name
    for candidate in (name, _UPLOAD_PREFIX.sub("", name)):
        matches = index.get(candidate, [])
        if len(matches) == 1:
            return matches[0]
    return None


def _rotated_box(value: dict[str, Any], width: float, height: float) -> BBox:
    """Label Studio rotates a rectangle about its top-left corner; take the upright box around
    the rotated one (in pixels when the image size is known, so the aspect ratio is right)."""
    x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
    w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
    angle = math.radians(float(value.get("rotation") or 0))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in
               ((0, 0), (w, 0), (w, h), (0, h))]  # fmt: skip
    xs = [c[0] * 1000 / width for c in corners]
    ys = [c[1] * 1000 / height for c in corners]
    return clip_box(min(xs), min(ys), max(xs), max(ys))


def _regions(result: list[Any], where: str, summary: ImportSummary) -> list[Entity]:
    grouped: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            continue
        kind = item.get("type")
        key = str(item.get("id", f"#{len(order)}"))
        if kind not in (*_BOX_TYPES, "textarea"):
            continue
        if key not in grouped:
            grouped[key] = {}
            order.append(key)
        region = grouped[key]
        value = item["value"]
        if kind in _BOX_TYPES and all(k in value for k in ("x", "y", "width", "height")):
            size = (item.get("original_width") or 100, item.get("original_height") or 100)
            region["bbox"] = _rotated_box(value, float(size[0]), float(size[1]))
            region["page"] = int(item.get("item_index") or 0)
        for field in ("rectanglelabels", "labels"):
            if value.get(field):
                region["label"] = str(value[field][0])
        if kind == "textarea":
            lines = value.get("text") or []
            region["text"] = " ".join(str(t) for t in lines).strip()
            region.setdefault("page", int(item.get("item_index") or 0))
    entities = []
    for key in order:
        region = grouped[key]
        label = str(region.get("label") or "").strip()
        if not label:
            summary.skipped.append(f"{where}: region {key} has no label")
            continue
        entities.append(
            Entity(
                label=label,
                text=str(region.get("text") or ""),
                page=int(region.get("page") or 0),
                bbox=region.get("bbox"),
            )
        )
    return entities


def _doc_type(result: list[Any]) -> str | None:
    for item in result:
        if isinstance(item, dict) and item.get("type") == "choices":
            choices = (item.get("value") or {}).get("choices") or []
            if choices and str(choices[0]).strip():
                return str(choices[0]).strip()
    return None


def _annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    usable = [
        a
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled") and isinstance(a.get("result"), list)
    ]
    return usable[-1] if usable else None


def _merge_pages(paths: list[Path], target: Path) -> Path:
    """Several page images as one multi-page TIFF (lossless)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for path in paths:
        with Image.open(path) as opened:
            frames.append(opened.convert("RGB"))
    frames[0].save(target, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return target


def import_label_studio(
    src: Path, out_dir: Path, *, default_doc_type: str = "document"
) -> ImportSummary:
    """Convert a Label Studio JSON export (``src``: the ``.json`` file) into ``out_dir``."""
    src = Path(src)
    if src.is_dir():
        exports = sorted(src.glob("*.json"))
        if len(exports) != 1:
            raise InterchangeError(f"{src}: expected one Label Studio .json export in the folder")
        src = exports[0]
    try:
        tasks = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InterchangeError(f"{src}: not a readable JSON export ({exc})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InterchangeError(f"{src}: expected a list of tasks (Label Studio's JSON export)")
    root = src.parent.resolve()
    index: dict[str, list[Path]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.resolve().is_relative_to(Path(out_dir).resolve()):
            index.setdefault(path.name, []).append(path.resolve())
    summary = ImportSummary(out_dir=Path(out_dir))
    docs: list[LabeledDocument] = []
    for number, task in enumerate(tasks, start=1):
        where = f"{src.name} task {number}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            summary.skipped.append(f"{where}: not a task object with 'data'")
            continue
        data = task["data"]
        doc_id = str(data.get("document_id") or task.get("id") or number)
        where = f"{src.name} task {doc_id}"
        annotation = _annotation(task)
        if annotation is None:
            summary.skipped.append(f"{where}: no completed annotation")
            continue
        pages = data.get("pages")
        references = (
            [str(p) for p in pages]
            if isinstance(pages, list) and pages
            else [str(data["image"])]
            if isinstance(data.get("image"), str)
            else [next((str(v) for v in data.values() if isinstance(v, str)), "")]
        )
        files = [_find_file(root, ref, index) for ref in references]
        missing = [ref for ref, f in zip(references, files, strict=True) if f is None]
        if missing:
            summary.skipped.append(f"{where}: file {missing[0]!r} not found under {root}")
            continue
        found = [f for f in files if f is not None]
        stem = safe_stem(doc_id)
        if len(found) == 1:
            file = copy_into(found[0], Path(out_dir), f"{stem}{found[0].suffix.lower()}")
        else:
            file = _merge_pages(found, Path(out_dir) / FILES_DIR / f"{stem}.tif")
        result = annotation["result"]
        entities = _regions(result, where, summary)
        for raw in data.get("unboxed_entities") or []:
            if isinstance(raw, dict) and str(raw.get("label") or "").strip():
                entities.append(
                    Entity(
                        label=str(raw["label"]),
                        text=str(raw.get("text") or ""),
                        page=int(raw.get("page") or 0),
                    )
                )
        docs.append(
            LabeledDocument(
                document_id=doc_id,
                file=file,
                doc_type=_doc_type(result) or default_doc_type,
                entities=entities,
            )
        )
    return finish(Path(out_dir), docs, summary)

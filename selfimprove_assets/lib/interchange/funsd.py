"""FUNSD's annotation JSON into the labeled-corpus contract.

Conversion rules (also in the README): ``SRC`` is a FUNSD ``dataset`` folder
(``training_data/`` and ``testing_data/``, each with ``annotations/<id>.json`` and
``images/<id>.png``) or one such split folder. Every document is a ``form``
(``default_doc_type``). An entity is a ``form`` item labelled ``question``, ``answer`` or
``header`` (``other`` is dropped), its text stripped (items left empty are dropped), its
``box`` (pixels) scaled to 0-1000 by the image's size. Word boxes and ``linking`` are not
carried over. With both splits, ``splits.json`` keeps FUNSD's train/test split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from selfimprove_assets.lib.documents.labels import SPLITS_FILE, LabeledDocument
from selfimprove_assets.lib.interchange.common import (
    ImportSummary,
    InterchangeError,
    copied_document,
    find_image,
    finish,
    pixels_to_thousandths,
)
from selfimprove_assets.lib.types import Entity

KEEP = ("question", "answer", "header")
_SPLITS = (("train", "training_data"), ("test", "testing_data"))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _split_folders(src: Path) -> list[tuple[str | None, Path]]:
    found = [(split, src / name) for split, name in _SPLITS if (src / name).is_dir()]
    if found:
        return [(split, path) for split, path in found]
    if (src / "annotations").is_dir():
        return [(None, src)]
    raise InterchangeError(
        f"{src}: not a FUNSD folder (expected training_data/ and testing_data/, or "
        "annotations/ and images/)"
    )


def _entities(form: Any, size: tuple[int, int], where: str, summary: ImportSummary) -> list[Entity]:
    if not isinstance(form, list):
        raise InterchangeError(f"{where}: 'form' must be a list")
    entities = []
    for index, item in enumerate(form):
        if not isinstance(item, dict):
            continue
        label = str(item.get("label") or "")
        if label not in KEEP:
            continue
        text = str(item.get("text") or "").strip()
        if not text:
            summary.skipped.append(f"{where}: item {index} ({label}) has no text")
            continue
        box = item.get("box")
        if not (isinstance(box, list) and len(box) == 4):
            summary.skipped.append(f"{where}: item {index} ({label}) has no box")
            continue
        x0, y0, x1, y1 = (float(v) for v in box)
        entities.append(
            Entity(
                label=label, text=text, page=0, bbox=pixels_to_thousandths((x0, y0, x1, y1), *size)
            )
        )
    return entities


def import_funsd(src: Path, out_dir: Path, *, default_doc_type: str = "form") -> ImportSummary:
    src, out_dir = Path(src), Path(out_dir)
    summary = ImportSummary(out_dir=out_dir)
    docs: list[LabeledDocument] = []
    splits: dict[str, list[str]] = {}
    for split, folder in _split_folders(src):
        for annotation in sorted((folder / "annotations").glob("*.json")):
            where = str(annotation.relative_to(src))
            image = find_image(folder / "images", annotation.stem, _IMAGE_SUFFIXES)
            if image is None:
                summary.skipped.append(f"{where}: no image {annotation.stem}.png in images/")
                continue
            try:
                form = json.loads(annotation.read_text(encoding="utf-8")).get("form")
            except (json.JSONDecodeError, AttributeError) as exc:
                raise InterchangeError(f"{where}: not FUNSD annotation JSON ({exc})") from None
            with Image.open(image) as opened:
                size = opened.size
            doc_id = annotation.stem
            entities = _entities(form, size, where, summary)
            docs.append(copied_document(image, out_dir, doc_id, default_doc_type, entities))
            if split is not None:
                splits.setdefault(split, []).append(doc_id)
    result = finish(out_dir, docs, summary)
    if len(splits) == 2:
        (out_dir / SPLITS_FILE).write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
    return result

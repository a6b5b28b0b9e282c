"""Committed reviews out of the feedback store.

``exported_documents`` reads every committed document (live and archived feedback) with its
verified type and entities. ``write_labels_jsonl`` writes them as the labeled-corpus contract
(the stored file copied byte for byte, ``document_id`` = the store's id), so ``selfimprove
ingest`` reads an export back to the same labels, and with a page store beside
``words.jsonl``, the words each document was predicted and reviewed on, so it reads back to
the same words too (no OCR); ``write_label_studio`` writes a Label Studio
import (one PNG per page, rectangles in percent, the text per region, the type as a choice).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.documents.given_words import write_words
from selfimprove_assets.lib.documents.labels import LabeledDocument, write_labels
from selfimprove_assets.lib.documents.page_store import PageStore, pages_key
from selfimprove_assets.lib.interchange.common import (
    FILES_DIR,
    ImportSummary,
    InterchangeError,
    copy_into,
)
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import Entity, PageWords

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("labels-jsonl", "label-studio")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


@dataclass
class ExportedDocument:
    document_id: str
    external_id: str | None
    filename: str | None
    media_type: str
    content_hash: str
    page_count: int
    blob_uri: str
    doc_type: str | None
    entities: list[Entity]
    reviewer: str | None
    committed_at: datetime | None
    model_versions: dict[str, str] = field(default_factory=dict)
    pages_key: str = ""
    """The page-store key of the words it was predicted and reviewed on."""


def _entity(raw: Any) -> Entity | None:
    if not isinstance(raw, dict) or not str(raw.get("label") or "").strip():
        return None
    bbox = raw.get("bbox")
    box = None
    if isinstance(bbox, list) and len(bbox) == 4:
        box = (int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3]))
    return Entity(
        label=str(raw["label"]),
        text=str(raw.get("text") or ""),
        page=int(raw.get("page") or 0),
        bbox=box,
    )


def first_set(rows: Iterable[Mapping[str, Any]], key: str) -> Any:
    """The first non-empty ``key`` among a document's feedback rows (one per model type)."""
    return next((r[key] for r in rows if r.get(key)), None)


def latest_set(rows: Iterable[Mapping[str, Any]], key: str) -> Any:
    """The greatest non-empty ``key`` (a time) among a document's feedback rows."""
    return max((r[key] for r in rows if r.get(key)), default=None)


def exported_documents(
    store: FeedbackStore, *, since: datetime | None = None, model_type: str | None = None
) -> list[ExportedDocument]:
    """Committed documents (committed at or after ``since``; only those whose ``model_type``
    review is committed, when given) with their verified type and entities."""
    out = []
    for item in store.curation.committed_reviews(since=since, model_type=model_type):
        rows = item["feedback"]
        cls = rows.get("classifier", {})
        ext = rows.get("extractor", {})
        entities = [e for e in map(_entity, (ext.get("verified") or {}).get("entities") or []) if e]
        out.append(
            ExportedDocument(
                document_id=item["id"],
                external_id=item["external_id"],
                filename=item["filename"],
                media_type=item["media_type"],
                content_hash=item["content_hash"],
                page_count=int(item["page_count"]),
                blob_uri=item["blob_uri"],
                doc_type=(cls.get("verified") or {}).get("doc_type"),
                entities=entities,
                reviewer=first_set(rows.values(), "reviewer"),
                committed_at=latest_set(rows.values(), "committed_at"),
                model_versions={t: str(r["model_version"]) for t, r in rows.items()},
                pages_key=pages_key(item["content_hash"], item.get("pages_uri")),
            )
        )
    return out


@dataclass
class ExportSummary(ImportSummary):
    """What an export wrote: an import's summary, and the format it was written in."""

    format: str = "labels-jsonl"
    documents_with_words: int = 0
    """Documents whose words went to ``words.jsonl`` (the others are read again at ingest)."""

    def to_dict(self) -> dict[str, object]:
        figures = super().to_dict()
        return {
            "out_dir": figures.pop("out_dir"),
            "format": self.format,
            **figures,
            "documents_with_words": self.documents_with_words,
        }


def _usable(docs: list[ExportedDocument], summary: ExportSummary) -> list[ExportedDocument]:
    usable = []
    for doc in docs:
        if not doc.doc_type:
            summary.skipped.append(f"{doc.document_id}: no verified document type committed")
        elif not Path(doc.blob_uri).is_file():
            summary.skipped.append(f"{doc.document_id}: its file is no longer stored")
        else:
            usable.append(doc)
    return usable


def write_labels_jsonl(
    docs: list[ExportedDocument], out_dir: Path, pages: PageStore | None = None
) -> ExportSummary:
    """The labeled-corpus contract: ``files/<id><ext>`` and ``labels.jsonl``; with ``pages``,
    also ``words.jsonl``: each document's stored words (given or extracted), every page."""
    out_dir = Path(out_dir)
    summary = ExportSummary(out_dir=out_dir, format="labels-jsonl")
    labeled = []
    words: list[tuple[str, PageWords]] = []
    for doc in _usable(docs, summary):
        stored = pages.get(doc.pages_key) if pages is not None and doc.pages_key else None
        if stored is not None and stored.page_count == doc.page_count:
            words.append((doc.document_id, stored))
        extension = _EXTENSIONS.get(doc.media_type, Path(doc.blob_uri).suffix)
        file = copy_into(Path(doc.blob_uri), out_dir, f"{doc.document_id}{extension}")
        labeled.append(
            LabeledDocument(
                document_id=doc.document_id,
                file=file,
                doc_type=str(doc.doc_type),
                entities=doc.entities,
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_labels(out_dir, labeled)  # an empty export is an empty labels.jsonl
    if words:
        write_words(out_dir, words)
    summary.documents_with_words = len(words)
    summary.documents = len(labeled)
    summary.entities = sum(len(d.entities) for d in labeled)
    return summary


def _region(index: int, entity: Entity, size: tuple[int, int]) -> list[dict[str, Any]]:
    assert entity.bbox is not None
    x0, y0, x1, y1 = entity.bbox
    geometry = {
        "x": x0 / 10,
        "y": y0 / 10,
        "width": (x1 - x0) / 10,
        "height": (y1 - y0) / 10,
        "rotation": 0,
    }
    common = {
        "id": f"r{index}",
        "to_name": "image",
        "original_width": size[0],
        "original_height": size[1],
        "image_rotation": 0,
    }
    if entity.page:
        common["item_index"] = entity.page
    return [
        common
        | {
            "from_name": "label",
            "type": "rectanglelabels",
            "value": geometry | {"rectanglelabels": [entity.label]},
        },
        common
        | {
            "from_name": "transcription",
            "type": "textarea",
            "value": geometry | {"text": [entity.text]},
        },
    ]


def label_config(doc_types: list[str], labels: list[str], multi_page: bool) -> str:
    """A Label Studio labeling config that matches ``write_label_studio``'s tasks."""

    def attr(value: str) -> str:
        return (
            value.replace("&", "&amp;")
            .replace('"', "&quot;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
        )

    image = (
        '<Image name="image" value="$pages" valueList="$pages"/>'
        if multi_page
        else ('<Image name="image" value="$image"/>')
    )
    choices = "".join(f'<Choice value="{attr(t)}"/>' for t in doc_types)
    regions = "".join(f'<Label value="{attr(label)}"/>' for label in labels)
    return (
        f"<View>\n  {image}\n"
        f'  <Choices name="doc_type" toName="image" choice="single">{choices}</Choices>\n'
        f'  <RectangleLabels name="label" toName="image">{regions}</RectangleLabels>\n'
        '  <TextArea name="transcription" toName="image" perRegion="true" editable="true"/>\n'
        "</View>\n"
    )


def write_label_studio(docs: list[ExportedDocument], out_dir: Path) -> ExportSummary:
    """A Label Studio import: ``tasks.json``, ``images/<id>-p<n>.png`` and ``label_config.xml``.

    Boxed entities become a rectangle (percent of the page) and a per-region transcription
    sharing its id; the type is a ``doc_type`` choice; entities without a box ride in the
    task's ``data.unboxed_entities`` (Label Studio has no region for them). Pages after the
    first are ``item_index`` of a multi-image task (``data.pages``).
    """
    from selfimprove_assets.lib.documents.render import render_page_png

    out_dir = Path(out_dir)
    summary = ExportSummary(out_dir=out_dir, format="label-studio")
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    tasks = []
    multi_page = False
    for doc in _usable(docs, summary):
        kind = {"application/pdf": "pdf", "image/tiff": "tiff"}.get(doc.media_type, "image")
        paths, sizes = [], []
        for page in range(doc.page_count):
            try:
                png = render_page_png(Path(doc.blob_uri), kind, page)
            except (IndexError, OSError) as exc:
                raise InterchangeError(f"{doc.document_id}: page {page}: {exc}") from exc
            path = images / f"{doc.document_id}-p{page}.png"
            path.write_bytes(png)
            paths.append(f"images/{path.name}")
            from PIL import Image

            with Image.open(path) as opened:
                sizes.append(opened.size)
        result: list[dict[str, Any]] = [
            {
                "id": "doc_type",
                "from_name": "doc_type",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [doc.doc_type]},
            }
        ]
        unboxed = []
        for index, entity in enumerate(doc.entities):
            if entity.bbox is None or entity.page >= len(sizes):
                unboxed.append({"label": entity.label, "text": entity.text, "page": entity.page})
            else:
                result.extend(_region(index, entity, sizes[entity.page]))
        data: dict[str, Any] = {"document_id": doc.document_id, "unboxed_entities": unboxed}
        if len(paths) == 1:
            data["image"] = paths[0]
        else:
            multi_page = True
            data["pages"] = paths
        tasks.append(
            {
                "data": data,
                "annotations": [
                    {
                        "result": result,
                        "was_cancelled": False,
                        "completed_by": doc.reviewer,
                        "updated_at": doc.committed_at.isoformat() if doc.committed_at else None,
                    }
                ],
            }
        )
        summary.documents += 1
        summary.entities += len(doc.entities)
    (out_dir / "tasks.json").write_text(
        json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    doc_types = sorted({str(d.doc_type) for d in docs if d.doc_type})
    labels = sorted({e.label for d in docs for e in d.entities})
    (out_dir / "label_config.xml").write_text(
        label_config(doc_types, labels, multi_page), encoding="utf-8"
    )
    return summary


def export(
    store: FeedbackStore,
    out_dir: Path,
    *,
    since: datetime | None = None,
    model_type: str | None = None,
    format: str = "labels-jsonl",
    pages: PageStore | None = None,
) -> ExportSummary:
    """Write the committed documents to ``out_dir`` in ``format``; ``pages`` (the page store)
    adds their words to a labels-jsonl export."""
    if format not in EXPORT_FORMATS:
        raise InterchangeError(f"unknown format {format!r}: use {', '.join(EXPORT_FORMATS)}")
    out_dir = Path(out_dir)
    if (out_dir / "labels.jsonl").exists() or (out_dir / "tasks.json").exists():
        raise InterchangeError(f"{out_dir} already holds an export: choose an empty folder")
    docs = exported_documents(store, since=since, model_type=model_type)
    if format == "label-studio":
        return write_label_studio(docs, out_dir)
    return write_labels_jsonl(docs, out_dir, pages)


__all__ = [
    "EXPORT_FORMATS",
    "FILES_DIR",
    "ExportSummary",
    "ExportedDocument",
    "export",
    "exported_documents",
    "write_label_studio",
    "write_labels_jsonl",
]

"""The training dataset file handed to training jobs: one Parquet row per document.

A file (not a database query) is the contract between the Dagster asset that curates a
dataset and the training job, so the job can run anywhere Pipes can launch it. The content
hash is computed over the rows in a canonical order, so the same data always has the same
hash whatever the file's encoding; MLflow records it with every run.

The ``entities`` column (nullable) holds the labeled entities as written, the truth scores
count against (:func:`example_truth`). Files written before it existed still read (their
examples carry ``entities=None``), and an example without entities hashes exactly as before,
so the hashes of existing datasets do not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from selfimprove_assets.lib.models.tags import example_entities
from selfimprove_assets.lib.types import Entity, TrainingExample

HASH_KEY = b"selfimprove.content_hash"

ENTITY_TYPE = pa.struct(
    [
        pa.field("label", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("bbox", pa.list_(pa.int32())),  # null when the label has no box
    ]
)

SCHEMA = pa.schema(
    [
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("doc_type", pa.string(), nullable=False),
        pa.field("words", pa.list_(pa.string())),
        pa.field("boxes", pa.list_(pa.list_(pa.int32(), 4))),
        pa.field("pages", pa.list_(pa.int32())),
        pa.field("word_tags", pa.list_(pa.string())),
        pa.field("source", pa.string()),
        pa.field("entities", pa.list_(ENTITY_TYPE), nullable=True),
    ]
)
# Columns an older file may lack; everything else is required.
OPTIONAL_COLUMNS = ("source", "entities")


def example_truth(example: TrainingExample) -> list[Entity]:
    """The entities a model is scored against: the labeled entities as written when the
    example carries them (every one counts, aligned to page words or not), else those encoded
    by its word tags (datasets written before the labels were kept)."""
    if example.entities is not None:
        return list(example.entities)
    return example_entities(example)


def _entity_row(entity: Entity) -> dict[str, object]:
    return {
        "label": entity.label,
        "text": entity.text,
        "page": int(entity.page),
        "bbox": [int(v) for v in entity.bbox] if entity.bbox is not None else None,
    }


def _entity_from_row(row: dict[str, Any]) -> Entity:
    bbox = row.get("bbox")
    box = (int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3])) if bbox is not None else None
    return Entity(label=str(row["label"]), text=str(row["text"]), page=int(row["page"]), bbox=box)


def _row(example: TrainingExample) -> dict[str, object]:
    return {
        "document_id": example.document_id,
        "doc_type": example.doc_type,
        "words": list(example.words),
        "boxes": [[int(v) for v in box] for box in example.boxes],
        "pages": [int(p) for p in example.pages],
        "word_tags": list(example.word_tags),
        "source": example.source,
        "entities": (
            [_entity_row(e) for e in example.entities] if example.entities is not None else None
        ),
    }


def _hash_row(example: TrainingExample) -> dict[str, object]:
    """The row as hashed: without ``entities`` when there are none, as before they existed."""
    row = _row(example)
    if row["entities"] is None:
        del row["entities"]
    return row


def validate_example(example: TrainingExample) -> None:
    n = len(example.words)
    where = f"document {example.document_id!r}"
    if not example.document_id:
        raise ValueError("a training example has an empty document_id")
    if len(example.boxes) != n or len(example.pages) != n or len(example.word_tags) != n:
        raise ValueError(
            f"{where}: words/boxes/pages/word_tags lengths differ "
            f"({n}/{len(example.boxes)}/{len(example.pages)}/{len(example.word_tags)})"
        )
    for box in example.boxes:
        if len(box) != 4:
            raise ValueError(f"{where}: box {list(box)!r} does not have 4 coordinates")
    for entity in example.entities or []:
        if not entity.label:
            raise ValueError(f"{where}: an entity has an empty label")
        if entity.bbox is not None and len(entity.bbox) != 4:
            raise ValueError(f"{where}: entity box {list(entity.bbox)!r} is not 4 coordinates")


def content_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 of the rows as canonical JSON, sorted by document id."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: e.document_id):
        digest.update(
            json.dumps(_hash_row(example), sort_keys=True, separators=(",", ":")).encode()
        )
        digest.update(b"\n")
    return digest.hexdigest()


def write_dataset(path: str | Path, examples: Sequence[TrainingExample]) -> str:
    """Write examples to Parquet and return their content hash (also stored in the file)."""
    ids = [e.document_id for e in examples]
    if len(set(ids)) != len(ids):
        duplicated = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"duplicate document_id in dataset: {duplicated}")
    for example in examples:
        validate_example(example)
    digest = content_hash(examples)
    table = pa.Table.from_pylist([_row(e) for e in examples], schema=SCHEMA)
    table = table.replace_schema_metadata({HASH_KEY: digest.encode()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path))
    return digest


def read_dataset(path: str | Path) -> list[TrainingExample]:
    """Read a dataset file written by :func:`write_dataset` (or any file with its schema)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset {path} does not exist")
    table = pq.read_table(str(path))
    missing = [
        name
        for name in SCHEMA.names
        if name not in table.column_names and name not in OPTIONAL_COLUMNS
    ]
    if missing:
        raise ValueError(f"dataset {path} lacks columns {missing}; expected {SCHEMA.names}")
    examples = []
    for row in table.to_pylist():
        example = TrainingExample(
            document_id=str(row["document_id"]),
            doc_type=str(row["doc_type"]),
            words=[str(w) for w in row["words"] or []],
            boxes=[(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in row["boxes"] or []],
            pages=[int(p) for p in row["pages"] or []],
            word_tags=[str(t) for t in row["word_tags"] or []],
            source=str(row.get("source") or "train"),
            entities=(
                [_entity_from_row(e) for e in row["entities"]]
                if row.get("entities") is not None
                else None
            ),
        )
        validate_example(example)
        examples.append(example)
    return examples


def dataset_hash(path: str | Path) -> str:
    """The content hash of a dataset file (recomputed, so a hand-edited file is caught)."""
    return content_hash(read_dataset(path))

"""The training dataset file handed to training jobs: one Parquet row per document.

A file (not a database query) is the contract between the Dagster asset that curates a
dataset and the training job, so the job can run anywhere Pipes can launch it. The content
hash is computed over the rows in a canonical order, so the same data always has the same
hash whatever the file's encoding; MLflow records it with every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from selfimprove_assets.lib.types import TrainingExample

HASH_KEY = b"selfimprove.content_hash"

SCHEMA = pa.schema(
    [
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("doc_type", pa.string(), nullable=False),
        pa.field("words", pa.list_(pa.string())),
        pa.field("boxes", pa.list_(pa.list_(pa.int32(), 4))),
        pa.field("pages", pa.list_(pa.int32())),
        pa.field("word_tags", pa.list_(pa.string())),
        pa.field("source", pa.string()),
    ]
)


def _row(example: TrainingExample) -> dict[str, object]:
    return {
        "document_id": example.document_id,
        "doc_type": example.doc_type,
        "words": list(example.words),
        "boxes": [[int(v) for v in box] for box in example.boxes],
        "pages": [int(p) for p in example.pages],
        "word_tags": list(example.word_tags),
        "source": example.source,
    }


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


def content_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 of the rows as canonical JSON, sorted by document id."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: e.document_id):
        digest.update(json.dumps(_row(example), sort_keys=True, separators=(",", ":")).encode())
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
    missing = [name for name in SCHEMA.names if name not in table.column_names and name != "source"]
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
        )
        validate_example(example)
        examples.append(example)
    return examples


def dataset_hash(path: str | Path) -> str:
    """The content hash of a dataset file (recomputed, so a hand-edited file is caught)."""
    return content_hash(read_dataset(path))

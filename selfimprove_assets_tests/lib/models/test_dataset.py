from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfimprove_assets.lib.models.dataset import (
    SCHEMA,
    content_hash,
    dataset_hash,
    example_truth,
    read_dataset,
    write_dataset,
)
from selfimprove_assets.lib.models.tags import example_entities
from selfimprove_assets.lib.types import Entity, TrainingExample
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus


def test_round_trip_and_stable_hash(tmp_path: Path) -> None:
    examples = make_corpus(n_per_type=2, seed=3)
    digest = write_dataset(tmp_path / "a.parquet", examples)
    assert read_dataset(tmp_path / "a.parquet") == examples
    assert write_dataset(tmp_path / "b.parquet", list(reversed(examples))) == digest
    schema = pq.read_schema(tmp_path / "a.parquet")
    assert schema.field("boxes").type.value_type.value_type.bit_width == 32
    changed = [*examples[:-1], TrainingExample(**{**examples[-1].__dict__, "doc_type": "other"})]
    assert content_hash(changed) != digest


def test_bad_rows_are_named(tmp_path: Path) -> None:
    bad = TrainingExample("d1", "t", ["a", "b"], [(0, 0, 1, 1)], [0, 0], ["O", "O"])
    with pytest.raises(ValueError, match="document 'd1'"):
        write_dataset(tmp_path / "x.parquet", [bad])
    good = make_corpus(n_per_type=1)[0]
    with pytest.raises(ValueError, match="duplicate document_id"):
        write_dataset(tmp_path / "x.parquet", [good, good])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_dataset(tmp_path / "missing.parquet")


def _old_hash(examples: list[TrainingExample]) -> str:
    """The content hash as written before datasets kept labeled entities."""
    digest = hashlib.sha256()
    for e in sorted(examples, key=lambda x: x.document_id):
        row = {
            "document_id": e.document_id,
            "doc_type": e.doc_type,
            "words": list(e.words),
            "boxes": [list(b) for b in e.boxes],
            "pages": list(e.pages),
            "word_tags": list(e.word_tags),
            "source": e.source,
        }
        digest.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def test_labeled_entities_round_trip_and_old_hashes_stay(tmp_path: Path) -> None:
    examples = make_corpus(n_per_type=2, seed=5)
    assert content_hash(examples) == _old_hash(examples), "existing dataset hashes change"
    labeled = copy.deepcopy(examples)
    labeled[0].entities = [
        Entity("total", "12.50", 0, (10, 20, 30, 40)),
        Entity("name", "text not on the page", 1),
    ]
    labeled[1].entities = []  # labeled, with no entity: not the same as "not carried"
    digest = write_dataset(tmp_path / "e.parquet", labeled)
    assert digest != content_hash(examples)
    back = read_dataset(tmp_path / "e.parquet")
    assert back == labeled
    assert back[0].entities is not None and back[0].entities[1].bbox is None
    assert back[1].entities == [] and back[2].entities is None
    assert example_truth(back[0]) == labeled[0].entities
    assert example_truth(back[1]) == []
    assert example_truth(back[2]) == example_entities(back[2])  # tags when none carried


def test_files_without_the_entities_column_still_read(tmp_path: Path) -> None:
    examples = make_corpus(n_per_type=1, seed=2)
    old_schema = pa.schema([f for f in SCHEMA if f.name != "entities"])
    rows = [
        {k: v for k, v in e.__dict__.items() if k != "entities"}
        | {"boxes": [list(b) for b in e.boxes]}
        for e in examples
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=old_schema), str(tmp_path / "old.parquet"))
    back = read_dataset(tmp_path / "old.parquet")
    assert back == examples and all(e.entities is None for e in back)
    assert dataset_hash(tmp_path / "old.parquet") == _old_hash(examples)

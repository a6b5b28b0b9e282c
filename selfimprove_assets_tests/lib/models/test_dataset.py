from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from selfimprove_assets.lib.models.dataset import content_hash, read_dataset, write_dataset
from selfimprove_assets.lib.types import TrainingExample
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

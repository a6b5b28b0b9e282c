"""The corpus build: splits stratified by type and deterministic, or as splits.json says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove_assets.lib.documents.corpus import read_splits, split_corpus
from selfimprove_assets.lib.documents.labels import CorpusError


def test_split_is_stratified_and_deterministic() -> None:
    ids = [f"d{i}" for i in range(40)]
    types = ["a"] * 20 + ["b"] * 15 + ["c"] * 5
    train, test = split_corpus(ids, types, test_fraction=0.2, seed=3)
    assert sorted(train + test) == sorted(ids) and not set(train) & set(test)
    by_type = {t: sum(1 for i in test if types[ids.index(i)] == t) for t in "abc"}
    assert by_type == {"a": 4, "b": 3, "c": 1}
    assert split_corpus(ids, types, test_fraction=0.2, seed=3) == (train, test)
    assert split_corpus(ids, types, test_fraction=0.2, seed=4) != (train, test)


def test_splits_json_is_honoured(tmp_path: Path) -> None:
    ids, types = ["a", "b", "c", "d"], ["x", "x", "y", "y"]
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a", "c"], "test": ["b", "d"]}))
    splits = read_splits(tmp_path)
    assert split_corpus(ids, types, splits=splits) == (["a", "c"], ["b", "d"])
    with pytest.raises(CorpusError, match="unknown"):
        split_corpus(ids, types, splits={"train": ["zzz"], "test": []})
    with pytest.raises(CorpusError, match="train and test"):
        split_corpus(ids, types, splits={"train": ["a"], "test": ["a"]})
    assert read_splits(tmp_path / "nowhere") is None

"""Curation opens the cycle and claims its rows, on a real SQLite store (no page images here:
the examples of documents without pages are counted as skipped, not invented)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfimprove_assets.lib.curation.frame import CurationError
from selfimprove_assets.lib.curation.result import ClassifierCurationConfig
from selfimprove_assets.lib.loop import curate
from selfimprove_assets.lib.loop.cycle import NoDefaultModel
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.lib.store.factories import commit_reviews


def _curate(store: FeedbackStore, tmp_path: Path) -> curate.RetrainingSet:
    initial = tmp_path / "initial.parquet"
    write_dataset(initial, [])
    return curate.curate(
        store,
        "classifier",
        ClassifierCurationConfig(holdout_fraction=0.25),
        pages_dir=tmp_path / "pages",
        datasets_dir=tmp_path / "datasets",
        initial_training_set=str(initial),
        run_id="run-7",
        run_tags={"selfimprove/trigger": "{}", "dagster/run_key": "k"},
    )


def test_curation_opens_the_cycle_and_claims_its_rows(store: FeedbackStore, tmp_path: Path) -> None:
    commit_reviews(store, 20, wrong=8)
    curated = _curate(store, tmp_path)
    assert (curated.cycle_id, curated.attempt, curated.name) == ("classifier-v1-c1", 1, "v2")
    assert curated.parent_version == "1" and curated.trigger_fields == ["doc_type"]
    default = store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "INPROGRESS"
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.dagster_run_id == "run-7"
    assert current.trigger == {"tags": {"selfimprove/trigger": "{}"}}  # only ours
    claimed = 20 - len(store.curation.committed_feedback("classifier", "1"))
    figures = curated.figures
    split = figures["counts"]["split"]
    assert claimed == split["train"] + split["holdout"] > 0
    assert figures["skipped_missing_pages"] == claimed  # no page images in this store
    assert curated.train_path.name == "classifier-v1-c1-a1-train.parquet"
    assert curated.train_path.is_file()
    assert curated.to_dict()["cycle_id"] == "classifier-v1-c1"


def test_no_default_and_nothing_to_curate_are_errors(store: FeedbackStore, tmp_path: Path) -> None:
    with pytest.raises(NoDefaultModel, match="no default extractor"):
        curate.curate(
            store,
            "extractor",
            ClassifierCurationConfig(),
            pages_dir=tmp_path,
            datasets_dir=tmp_path,
            initial_training_set=str(tmp_path / "missing.parquet"),
        )
    with pytest.raises(CurationError):
        _curate(store, tmp_path)  # no committed feedback
    assert store.cycles.current_cycle("classifier") is None  # nothing opened

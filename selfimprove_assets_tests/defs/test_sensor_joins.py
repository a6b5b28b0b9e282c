"""The classifier's sensor while the corpus needs no classifier: it waits, then requests V1 once
reviewers' committed types make a classifier needed (real store and Dagster instance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY, DataSummary
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.store.repository import NO_MODEL_VERSION, FeedbackStore
from selfimprove_assets_tests.lib.store.factories import stored_document


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path)})
    defs = build_definitions(settings, min_commits=5, min_corrections=0)
    return {
        "store": FeedbackStore(settings.database_url),
        "defs": defs,
        "instance": dg.DagsterInstance.ephemeral(),
        "resources": {"store": FeedbackStoreResource(database_url=settings.database_url)},
    }


def _baseline_not_needed(instance: dg.DagsterInstance, model_type: str, data: DataSummary) -> None:
    """What the baseline asset records when the data does not need the model type."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=f"{model_type}_baseline",
            metadata={
                "needed": False,
                "not_needed": "one type",
                TRAINING_DATA_KEY: dg.MetadataValue.json(data.to_dict()),
            },
        )
    )


def _commit_reviews(store: FeedbackStore, types: list[str], start: int = 0) -> None:
    """Documents served without a classifier (no version), reviewed with ``types``."""
    ids = []
    for i, doc_type in enumerate(types, start=start):
        doc = stored_document(
            store,
            f"h{i}",
            [
                ("classifier", NO_MODEL_VERSION, {"doc_type": "intake", "confidence": None}),
                ("extractor", "1", {"entities": []}),
            ],
        )
        store.commits.set_review(
            doc,
            verified={"classifier": {"doc_type": doc_type}, "extractor": {"entities": []}},
        )
        ids.append(doc)
    store.commits.commit_documents(ids)


def _tick(env: dict[str, Any], model_type: str = "classifier") -> Any:
    sensor = env["defs"].get_repository_def().get_sensor_def(f"{model_type}_accuracy_sensor")
    context = dg.build_sensor_context(
        instance=env["instance"], definitions=env["defs"], resources=env["resources"]
    )
    return sensor.evaluate_tick(context)


def test_without_a_baseline_record_the_sensor_waits_for_one(env: dict[str, Any]) -> None:
    _commit_reviews(env["store"], ["intake", "referral"])
    data = _tick(env)
    assert not data.run_requests and "no default classifier yet" in (data.skip_message or "")


def test_classifier_joins_when_reviews_hold_a_second_type(env: dict[str, Any]) -> None:
    _baseline_not_needed(env["instance"], "classifier", DataSummary(doc_types={"intake": 20}))
    _commit_reviews(env["store"], ["intake"] * 3)
    waiting = _tick(env)
    assert not waiting.run_requests
    assert "classifier not needed" in (waiting.skip_message or "")
    # never counted
    assert env["store"].counters.live_counters("classifier", NO_MODEL_VERSION) == {}

    _commit_reviews(env["store"], ["referral", "intake"], start=3)
    data = _tick(env)
    assert len(data.run_requests) == 1, data.skip_message
    request = data.run_requests[0]
    assert request.job_name == "classifier_joins_loop"
    assert request.run_config == {
        "ops": {"classifier_baseline": {"config": {"include_feedback": True}}}
    }
    assert json.loads(request.tags["selfimprove/joins"]) == ["intake", "referral"]
    assert request.run_key and request.run_key.startswith("classifier-joins-")
    assert env["store"].curation.verified_doc_types() == {"intake": 4, "referral": 1}


def test_extractor_of_a_corpus_without_entities_never_runs(env: dict[str, Any]) -> None:
    types_only = DataSummary(doc_types={"intake": 10, "referral": 10})
    _baseline_not_needed(env["instance"], "extractor", types_only)
    _commit_reviews(env["store"], ["intake", "referral"])
    data = _tick(env, "extractor")
    assert not data.run_requests and "extractor not needed" in (data.skip_message or "")

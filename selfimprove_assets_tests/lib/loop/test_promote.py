"""Candidate names, promotion, rejection and rollback against a real MLflow registry (SQLite)
and a real store: one champion order, and the decision on the registry version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from selfimprove_assets.lib.deployment import champion_version, registry_agrees
from selfimprove_assets.lib.loop import candidate, cycle, promote
from selfimprove_assets.lib.loop.evaluate import log_evaluation
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.lib.loop.conftest import start_cycle
from selfimprove_assets_tests.lib.store.factories import commit_reviews

NAME = "doc-classifier"


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    """Versions 1 (champion) and 2, 3 (candidates to be) of the classifier, each with a run."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "a").as_uri())
    client.create_registered_model(NAME)
    source = tmp_path / "model"
    source.mkdir()
    for _ in range(3):
        run = client.create_run(experiment)
        client.create_model_version(NAME, source.as_uri(), run_id=run.info.run_id)
    client.set_registered_model_alias(NAME, "champion", "1")
    return client


def _cycle_with_candidate(
    store: FeedbackStore, client: MlflowClient, version: str
) -> candidate.Candidate:
    """Curation's and training's part: claim, open (or re-open) the cycle, record ``version``."""
    cycle.claim(store, "classifier", "below")
    opened = start_cycle(store)
    run_id = client.get_model_version(NAME, version).run_id
    return candidate.record_candidate(
        store,
        client,
        model_type="classifier",
        version=version,
        run_id=run_id,
        parent_version="1",
        cycle_id=opened.cycle_id,
        attempt=opened.attempt,
    )


def _evaluation(found: candidate.Candidate, promote_it: bool) -> dict[str, Any]:
    return {
        "cycle_id": found.cycle_id,
        "attempt": found.attempt,
        "name": found.name,
        "candidate_version": found.version,
        "default_version": "1",
        "decision": {
            "promote": promote_it,
            "reasons": ["golden: 0.800 -> 0.900 (n=20)"],
            "failed": [] if promote_it else ["production: no significant gain (p=0.4)"],
        },
        "candidate_golden": {"headline": 0.9, "field_accuracy": {"doc_type": 0.9}},
    }


def test_rejected_then_promoted_attempts_are_named_and_tagged(
    store: FeedbackStore, client: MlflowClient
) -> None:
    commit_reviews(store, 6, wrong=3)
    first = _cycle_with_candidate(store, client, "2")
    assert first.name == "v2"
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == "2"
    rejected = promote.conclude(store, client, "classifier", _evaluation(first, False), margin=0.05)
    assert rejected.outcome == "rejected" and rejected.rows == 6
    assert champion_version(client, "classifier") == "1"
    default = store.models.get_default("classifier")
    assert default is not None and default.version == "1" and default.retrain_state == "FAILED"
    assert "v2 (v2) rejected: production: no significant gain" in (default.state_reason or "")

    second = _cycle_with_candidate(store, client, "3")
    assert (second.name, second.attempt) == ("v2.1", 2)
    promoted = promote.conclude(store, client, "classifier", _evaluation(second, True), margin=0.05)
    assert promoted.outcome == "promoted" and promoted.rows == 6
    assert promoted.thresholds == {"doc_type": 0.85}
    assert registry_agrees(store, client, "classifier") == (
        True,
        "model table and registry agree on classifier version 3",
    )
    default = store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "COMPLETED"
    assert cycle.version_name(default.baseline_metrics, default.version) == "v2.1"

    v2, v3 = client.get_model_version(NAME, "2"), client.get_model_version(NAME, "3")
    assert v2.tags == {
        "name": "v2",
        "cycle": "classifier-v1-c1",
        "attempt": "1",
        "parent": "1",
        "parent_name": "v1",
        "decision": "rejected",
        "reasons": "production: no significant gain (p=0.4)",
    }
    assert v3.tags["name"] == "v2.1" and v3.tags["attempt"] == "2"
    assert v3.tags["cycle"] == "classifier-v1-c1" and v3.tags["decision"] == "promoted"
    assert v3.tags["reasons"] == "golden: 0.800 -> 0.900 (n=20)"
    assert v3.description == (
        "v2.1: second attempt of retrain cycle classifier-v1-c1, fine-tuned from v1 "
        "(registry version 1)"
    )
    table = store.models.get_version("classifier", "2")
    assert table is not None and cycle.version_name(table.baseline_metrics, "2") == "v2"


def test_rollback_moves_registry_then_table(
    store: FeedbackStore, client: MlflowClient, tmp_path: Path
) -> None:
    commit_reviews(store, 4, wrong=2)
    found = _cycle_with_candidate(store, client, "2")
    promote.conclude(store, client, "classifier", _evaluation(found, True), margin=0.05)
    assert champion_version(client, "classifier") == "2"

    # The registry is unreachable: nothing moves, in the registry nor in the table.
    dead = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    with pytest.raises(MlflowException):
        promote.rollback(store, dead, "classifier", "alice")
    assert store.models.get_default("classifier").version == "2"  # type: ignore[union-attr]
    assert champion_version(client, "classifier") == "2"

    done = promote.rollback(store, client, "classifier", "alice")
    assert (done.previous_version, done.default_version) == ("2", "1")
    assert registry_agrees(store, client, "classifier")[0]
    default = store.models.get_default("classifier")
    assert default is not None and default.version == "1"
    assert default.state_reason == "rolled back from version 2 by alice"
    assert client.get_model_version(NAME, "2").tags["rolled_back"] == "by alice, to version 1"
    with pytest.raises(promote.NothingToRollBack, match="no parent version"):
        promote.rollback(store, client, "classifier", "alice")
    with pytest.raises(cycle.NoDefaultModel):
        promote.rollback(store, client, "extractor", "alice")


def test_evaluation_figures_are_metrics_of_the_candidate_run(client: MlflowClient) -> None:
    run_id = client.get_model_version(NAME, "2").run_id
    assert run_id is not None
    report = {
        "decision": {"promote": False},
        "default_version": "1",
        "metrics": {"golden/candidate": 0.8, "golden/champion": 0.85, "golden/delta": -0.05},
    }
    log_evaluation(client, run_id, report, step=1)
    run = client.get_run(run_id)
    assert run.data.metrics == report["metrics"]
    assert run.data.tags["decision"] == "reject" and run.data.tags["champion_version"] == "1"
    assert "evaluation/report.json" in [f.path for f in client.list_artifacts(run_id, "evaluation")]

"""Baseline → feedback → sensor → curated set → candidate → evaluation → promotion (or not)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mlflow import MlflowClient
from sqlalchemy.exc import OperationalError

from selfimprove_assets.lib.deployment import champion_version, deploy_version, registry_agrees
from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY
from selfimprove_assets.lib.store.model_table import ModelTable
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.loop_env import LoopEnv, build_loop_env

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

LENIENT = {"require_significant_improvement": False, "golden_tolerance": 1.0}
STRICT = {"alpha": 1e-9}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> LoopEnv:
    env = build_loop_env(tmp_path_factory.mktemp("loop"))
    stats = env.stream_reviews()
    assert stats["failed"] == 0 and stats["committed"] > 0
    return env


def _client(env: LoopEnv) -> MlflowClient:
    return MlflowClient(tracking_uri=env.settings.mlflow_tracking_uri)


def _trigger(env: LoopEnv, model_type: str) -> dict[str, str]:
    data = env.tick(model_type)
    assert len(data.run_requests) == 1, data.skip_message
    assert env.store.models.get_default(model_type).retrain_state == "TRIGGERED"  # type: ignore[union-attr]
    return dict(data.run_requests[0].tags)


def test_rejection_then_manual_rerun_is_promoted(loop: LoopEnv) -> None:
    store = loop.store
    before = store.models.get_default("classifier")
    assert before is not None and before.version == "1"
    available = len(store.curation.committed_feedback("classifier", "1"))
    tags = _trigger(loop, "classifier")
    cfg = {"ops": {"classifier_evaluation": {"config": STRICT}}}
    rejected = loop.run_retraining("classifier", tags, cfg)
    assert rejected.success
    report = rejected.output_for_node("classifier_evaluation")
    assert report["decision"]["promote"] is False and report["decision"]["failed"]
    after = store.models.get_default("classifier")
    assert after is not None and after.version == "1" and after.retrain_state == "FAILED"
    assert champion_version(_client(loop), "classifier") == "1"
    assert len(store.curation.committed_feedback("classifier", "1")) == available  # rows released
    # the decision's rules as data, and the loop re-arms by itself (no alert, no operator)
    assert {r["check"] for r in report["decision"]["rules"]} >= {"regression", "improvement"}
    (champion,) = rejected.asset_materializations_for_node("classifier_champion")
    assert champion.metadata["waits_for_operator"].value is False
    assert "re-arms v2.1 by itself" in str(champion.metadata["next_step"].value)
    # the operator changes the curation and the policy, and re-runs from the UI
    cfg = {
        "ops": {
            "classifier_retraining_set": {"config": {"non_corrected_sample_ratio": 0.5}},
            "classifier_evaluation": {"config": LENIENT},
        }
    }
    promoted = loop.run_retraining("classifier", tags, cfg)
    assert promoted.success
    report = promoted.output_for_node("classifier_evaluation")
    assert report["decision"]["promote"] is True
    assert report["attempt"] == 2  # same cycle, second attempt
    new = store.models.get_default("classifier")
    assert new is not None and new.version == report["candidate_version"] != "1"
    assert new.retrain_state == "COMPLETED" and new.parent_version == "1"
    assert champion_version(_client(loop), "classifier") == new.version
    assert registry_agrees(store, _client(loop), "classifier")[0]
    assert store.counters.count_feedback(archived=True) > 0
    assert store.counters.archived_and_live_overlap() == 0
    assert store.counters.live_counters("classifier", new.version) == {}


def test_attempts_are_named_and_decisions_tagged_in_the_registry(loop: LoopEnv) -> None:
    """After the rejection and the operator's retry above: the registry versions carry the
    attempt's name, cycle, attempt, parent and decision with its reasons, and the candidates'
    runs hold the evaluation figures as metrics (what the MLflow UI compares)."""
    client = _client(loop)
    versions = {
        v.tags.get("decision"): client.get_model_version("doc-classifier", v.version)
        for v in client.search_model_versions("name = 'doc-classifier'")
        if v.tags.get("decision")
    }
    rejected, promoted = versions["rejected"], versions["promoted"]
    for version in (rejected, promoted):
        logger.info("doc-classifier version %s tags %s", version.version, dict(version.tags))
        logger.info("  description: %s", version.description)
    assert rejected.tags["name"] == "v2" and rejected.tags["attempt"] == "1"
    assert promoted.tags["name"] == "v2.1" and promoted.tags["attempt"] == "2"
    assert rejected.tags["cycle"] == promoted.tags["cycle"] == "classifier-v1-c1"
    assert rejected.tags["parent"] == promoted.tags["parent"] == "1"
    assert rejected.tags["reasons"] and rejected.tags["reasons"] != "-"
    assert (promoted.description or "").startswith("v2.1: second attempt of retrain cycle")
    default = loop.store.models.get_default("classifier")
    assert default is not None and default.version == str(promoted.version)
    assert default.baseline_metrics["version_name"] == "v2.1"
    for version in (rejected, promoted):
        assert version.run_id is not None
        metrics = client.get_run(version.run_id).data.metrics
        assert {"golden/candidate", "golden/champion", "golden/delta"} <= set(metrics)
        assert "production/candidate" in metrics


def test_extractor_promotion_rebases_thresholds_and_archives(loop: LoopEnv) -> None:
    store = loop.store
    old = store.models.get_default("extractor")
    assert old is not None
    tags = _trigger(loop, "extractor")
    result = loop.run_retraining(
        "extractor", tags, {"ops": {"extractor_evaluation": {"config": LENIENT}}}
    )
    assert result.success
    evaluation = result.output_for_node("extractor_evaluation")
    assert set(evaluation["comparisons"]) == {"golden", "production"}
    new = store.models.get_default("extractor")
    assert new is not None and new.version != old.version
    assert new.thresholds and new.thresholds != old.thresholds or new.baseline_metrics
    assert new.retrain_state == RetrainState.COMPLETED.value
    # the training data V1 recorded stays with the default (serving judges by it whether the
    # other model type is needed)
    recorded = new.baseline_metrics[TRAINING_DATA_KEY]
    assert recorded == old.baseline_metrics[TRAINING_DATA_KEY] and recorded["entity_labels"]
    version = MlflowClient(tracking_uri=loop.settings.mlflow_tracking_uri).get_model_version(
        "entity-extractor", new.version
    )
    assert version.tags.get("parent_version") == old.version
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


class _TableGoesAway(ModelTable):
    """The model table loses its database exactly at the second step of a promotion."""

    def set_default(self, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("UPDATE models ...", {}, Exception("server closed the connection"))


def test_promotion_survives_a_crash_between_registry_and_table(loop: LoopEnv) -> None:
    store = loop.store
    current = store.models.get_default("classifier")
    assert current is not None
    target = current.parent_version or "1"
    kwargs: dict[str, Any] = {
        "model_type": "classifier",
        "version": target,
        "field_accuracy": {"doc_type": 0.9},
        "metrics": {},
        "margin": 0.05,
        "mlflow_run_id": None,
        "parent_version": None,
        "state": RetrainState.COMPLETED,
    }
    crashing = FeedbackStore(loop.settings.database_url, migrate=False, engine=store.engine)
    crashing.models = _TableGoesAway(crashing.db)
    with pytest.raises(OperationalError):
        deploy_version(crashing, _client(loop), **kwargs)
    agrees, message = registry_agrees(store, _client(loop), "classifier")
    assert not agrees and "registry champion" in message
    assert store.models.get_default("classifier").version == current.version  # type: ignore[union-attr]
    deploy_version(store, _client(loop), **kwargs)  # the re-run repairs it
    assert registry_agrees(store, _client(loop), "classifier")[0]
    assert store.models.get_default("classifier").version == target  # type: ignore[union-attr]

"""The accuracy sensors and the failure path, on a real store and a real Dagster instance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.feedback.sensors import EVIDENCE_TAG, REARM_TAG, mark_run_failed
from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.monitor.power import observations_to_detect
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.store.repository import CycleInfo, FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.store.factories import commit_reviews, stored_document

MIN_COMMITS = 30


# A production slice of half the reviewed documents and no minimum size: 40 commits with 20
# corrected (0.5 against 0.9) are enough for the gauntlet to decide (16 slice documents).
HALF_SLICE = {"slice_share": 0.5, "min_slice_documents": 0}


def _env(tmp_path: Path, monitor: dict[str, Any]) -> dict[str, Any]:
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path)})
    settings = settings.with_overrides({"monitor": monitor})
    store = FeedbackStore(settings.database_url)
    store.models.register_version(
        model_type="classifier", version="1", registry_name="doc-classifier"
    )
    store.models.set_default(
        "classifier", "1", thresholds={"doc_type": 0.9}, state=RetrainState.IDLE
    )
    defs = build_definitions(settings, min_commits=MIN_COMMITS, min_corrections=0)
    return {
        "store": store,
        "defs": defs,
        "sensor": defs.get_repository_def().get_sensor_def("classifier_accuracy_sensor"),
        "instance": dg.DagsterInstance.ephemeral(),
        "resources": {"store": FeedbackStoreResource(database_url=settings.database_url)},
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    return _env(tmp_path, HALF_SLICE)


def _invoice_prediction(store: FeedbackStore, content_hash: str) -> str:
    """A stored document that classifier v1 called an invoice (not reviewed yet)."""
    return stored_document(
        store, content_hash, [("classifier", "1", {"doc_type": "invoice", "confidence": 0.9})]
    )


def _tick(env: dict[str, Any], cursor: str | None) -> Any:
    context = dg.build_sensor_context(
        instance=env["instance"], cursor=cursor, definitions=env["defs"], resources=env["resources"]
    )
    return env["sensor"].evaluate_tick(context)


def test_no_trigger_below_minimum_sample(env: dict[str, Any]) -> None:
    commit_reviews(env["store"], 20, wrong=20)  # terrible, but too few commits
    data = _tick(env, None)
    assert not data.run_requests
    assert "need 30" in (data.skip_message or "")
    assert data.cursor == "1"
    assert len(data.asset_events) == 1  # the live figures are still reported


def test_exactly_one_run_when_significantly_below(env: dict[str, Any]) -> None:
    commit_reviews(env["store"], 40, wrong=20)  # 50% vs 0.9
    data = _tick(env, None)
    assert len(data.run_requests) == 1
    request = data.run_requests[0]
    assert request.tags["selfimprove/model_type"] == "classifier"
    assert "doc_type" in request.tags["selfimprove/trigger"]
    assert request.run_key == "classifier-v1-commit1"
    assert env["store"].models.get_default("classifier").retrain_state == "TRIGGERED"
    # the cursor advanced; the next tick sees nothing new
    again = _tick(env, data.cursor)
    assert not again.run_requests and "no new commits" in (again.skip_message or "")
    # more commits while TRIGGERED do not request a second run
    commit_reviews(env["store"], 10, wrong=10, start=100)
    third = _tick(env, data.cursor)
    assert not third.run_requests and "already TRIGGERED" in (third.skip_message or "")


def test_no_trigger_while_in_progress(env: dict[str, Any]) -> None:
    env["store"].cycles.set_retrain_state("classifier", RetrainState.INPROGRESS)
    commit_reviews(env["store"], 40, wrong=30)
    data = _tick(env, None)
    assert not data.run_requests
    assert "INPROGRESS" in (data.skip_message or "")


def test_no_trigger_when_only_noisily_below(env: dict[str, Any]) -> None:
    commit_reviews(env["store"], 40, wrong=5)  # 0.875 < 0.9 on the point estimate only
    data = _tick(env, None)
    assert not data.run_requests
    assert "not significant" in (data.skip_message or "")


def test_failure_moves_state_to_failed_and_releases_rows(env: dict[str, Any]) -> None:
    store: FeedbackStore = env["store"]
    commit_reviews(store, 40, wrong=20)
    assert _tick(env, None).run_requests
    store.cycles.set_retrain_state("classifier", RetrainState.INPROGRESS)
    cycle = store.cycles.open_cycle("classifier", "1", {})
    rows = store.curation.committed_feedback("classifier", "1")
    store.cycles.mark_retrained([r["feedback_id"] for r in rows], cycle.cycle_id)
    assert store.curation.committed_feedback("classifier", "1") == []
    mark_run_failed(env["resources"]["store"], {"selfimprove/model_type": "classifier"}, "boom")
    assert store.models.get_default("classifier").retrain_state == "FAILED"  # type: ignore[union-attr]
    assert len(store.curation.committed_feedback("classifier", "1")) == 40
    assert store.cycles.current_cycle("classifier").state == "FAILED"  # type: ignore[union-attr]
    # a later significant drop can trigger again from FAILED
    commit_reviews(store, 40, wrong=30, start=200)
    assert len(_tick(env, "1").run_requests) == 1


def test_suspicious_feedback_is_listed_for_a_human(env: dict[str, Any]) -> None:
    store: FeedbackStore = env["store"]
    ids = []
    for i in range(70):
        doc = _invoice_prediction(store, f"s{i}")
        reviewer, verified = ("careful", "invoice") if i < 40 else ("hasty", "referral")
        if i < 2:
            verified = "referral"
        store.commits.set_review(
            doc, verified={"classifier": {"doc_type": verified}}, reviewer=reviewer
        )
        ids.append(doc)
    store.commits.commit_documents(ids)
    job = env["defs"].resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=env["instance"], asset_selection=[dg.AssetKey("classifier_accuracy")]
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    suspicious = checks["suspicious_feedback"]
    assert not suspicious.passed
    assert suspicious.metadata["flagged"].value == 30
    assert "hasty" in suspicious.metadata["flagged_rows"].value
    assert checks["counters_equal_recount"].passed
    assert checks["no_row_archived_and_live"].passed


def test_a_trigger_waits_until_the_gauntlet_can_decide(tmp_path: Path) -> None:
    env = _env(tmp_path, {})  # the default evidence rule: a slice of 20% and >= 20 documents
    store: FeedbackStore = env["store"]
    commit_reviews(store, 40, wrong=20)  # certainly below 0.9, but a slice of 8 documents
    first = _tick(env, None)
    assert not first.run_requests
    assert "waiting for evidence: 60 more reviewed documents so that the gauntlet can decide" in (
        first.skip_message or ""
    )
    assert "production slice of 20 documents (20% of 100 reviewed)" in (first.skip_message or "")
    commit_reviews(store, 59, wrong=30, start=100)
    second = _tick(env, first.cursor)
    assert not second.run_requests and "1 more reviewed documents" in (second.skip_message or "")
    commit_reviews(store, 1, wrong=1, start=200)
    (request,) = _tick(env, second.cursor).run_requests
    evidence = json.loads(request.tags[EVIDENCE_TAG])
    assert evidence["enough"] and evidence["reviewed_documents"] == 100
    assert (evidence["slice_documents"], evidence["needed_documents"]) == (20, 100)
    assert evidence["observations"] == observations_to_detect(0.49, 0.9, 0.05, 0.8)


def _attempt(store: FeedbackStore, tags: dict[str, str], version: str) -> CycleInfo:
    """What the requested run's curation and training do: the next attempt of the cycle on
    every free committed row, with the run's tags, and its candidate ``version``."""
    cycle.begin(store, "classifier")
    rows = store.curation.committed_feedback("classifier", "1")
    opened = cycle.start(
        store,
        "classifier",
        "1",
        trigger_tags={k: v for k, v in tags.items() if k.startswith("selfimprove/")},
        run_id=None,
        feedback_ids=[r["feedback_id"] for r in rows],
    )
    cycle.record_candidate(store, opened.cycle_id, opened.attempt, version)
    return opened


def _reject(store: FeedbackStore, opened: CycleInfo) -> None:
    """The champion's alternate path for the attempt (the gauntlet said no)."""
    decision = {"promote": False, "reasons": [], "failed": ["FAIL: no significant gain"]}
    cycle.release(
        store, "classifier", opened.cycle_id, opened.attempt, decision=decision, reason="rejected"
    )


def test_a_rejection_rearms_by_itself_and_the_cap_waits_for_an_operator(
    env: dict[str, Any],
) -> None:
    store: FeedbackStore = env["store"]
    commit_reviews(store, 40, wrong=20)
    data = _tick(env, None)
    (request,) = data.run_requests
    _reject(store, _attempt(store, dict(request.tags), "2"))  # v2 used the 40 rows
    commit_reviews(store, 20, wrong=10, start=100)
    data = _tick(env, data.cursor)
    assert not data.run_requests
    assert "20 more reviewed documents before v2.1 re-arms" in (data.skip_message or "")
    commit_reviews(store, 20, wrong=10, start=200)
    data = _tick(env, data.cursor)
    (request,) = data.run_requests  # as many again as v2 used: v2.1 by itself
    assert request.tags[REARM_TAG] == "v2.1"
    assert store.models.get_default("classifier").retrain_state == "TRIGGERED"  # type: ignore[union-attr]
    v21 = _attempt(store, dict(request.tags), "3")
    assert cycle.attempt_name(v21.cycle_id, v21.attempt) == "v2.1"
    assert store.curation.committed_feedback("classifier", "1") == []  # all 80 corrections
    # v2.1 crashes: no rejection, no attempt counted; the next commit retries at once
    mark_run_failed(env["resources"]["store"], {"selfimprove/model_type": "classifier"}, "boom")
    commit_reviews(store, 1, wrong=1, start=300)
    data = _tick(env, data.cursor)
    (request,) = data.run_requests
    assert REARM_TAG not in request.tags
    _reject(store, _attempt(store, dict(request.tags), "4"))  # v2.2: automatic rejection 2 of 3
    commit_reviews(store, 81, wrong=40, start=400)
    data = _tick(env, data.cursor)
    (request,) = data.run_requests
    assert request.tags[REARM_TAG] == "v2.3"
    _reject(store, _attempt(store, dict(request.tags), "5"))  # rejection 3 of 3: the cap
    commit_reviews(store, 200, wrong=100, start=600)
    data = _tick(env, data.cursor)
    assert not data.run_requests
    assert "3 automatic attempts rejected" in (data.skip_message or "")
    assert "waiting for an operator" in (data.skip_message or "")
    # the operator resets: the sensor triggers again on the next commit
    cycle.reset(store, "classifier", actor="alice")
    commit_reviews(store, 1, wrong=1, start=900)
    assert len(_tick(env, data.cursor).run_requests) == 1


def _claim_rows(store: FeedbackStore) -> str:
    """40 committed reviews (20 corrected) and an in-progress cycle that claimed them all (what
    curation does)."""
    commit_reviews(store, 40, wrong=20)
    store.cycles.set_retrain_state("classifier", RetrainState.INPROGRESS, reason="curating")
    cycle = store.cycles.open_cycle("classifier", "1", {})
    rows = store.curation.committed_feedback("classifier", "1")
    store.cycles.mark_retrained([r["feedback_id"] for r in rows], cycle.cycle_id)
    assert store.curation.committed_feedback("classifier", "1") == []
    return cycle.cycle_id


def _armed_sensor(env: dict[str, Any], name: str) -> Callable[[], None]:
    """The run-status sensor ``name`` after a first tick of its real evaluation (its job filter
    included) set its cursor; returns its next tick."""
    instance: dg.DagsterInstance = env["instance"]
    sensor = env["defs"].get_repository_def().get_sensor_def(name)
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))

    def tick() -> None:
        context = dg.build_sensor_context(
            instance=instance, cursor=first.cursor, resources=env["resources"]
        )
        sensor.evaluate_tick(context)

    return tick


def _assert_failed_and_released(store: FeedbackStore, reason: str) -> None:
    """The classifier's loop is FAILED for ``reason`` and its 40 committed rows are free again."""
    default = store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "FAILED"
    assert reason in (default.state_reason or "")
    assert len(store.curation.committed_feedback("classifier", "1")) == 40


def test_crash_in_a_manual_rematerialization_fails_the_cycle(env: dict[str, Any]) -> None:
    """A re-materialization from the asset graph runs as the implicit asset job with no
    model-type tag; its crash must still end FAILED with the rows released."""
    store: FeedbackStore = env["store"]
    _claim_rows(store)
    instance: dg.DagsterInstance = env["instance"]
    tick = _armed_sensor(env, "retraining_failure_sensor")
    job = env["defs"].resolve_implicit_global_asset_job_def()
    # No retraining_set output was ever stored: the candidate step cannot load its input.
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey("classifier_candidate")],
        raise_on_error=False,
    )
    assert not result.success
    assert "selfimprove/model_type" not in result.dagster_run.tags
    assert store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]
    tick()
    _assert_failed_and_released(store, "retraining run failed")
    assert store.cycles.current_cycle("classifier").state == "FAILED"  # type: ignore[union-attr]


def test_untagged_run_of_other_assets_is_ignored(env: dict[str, Any]) -> None:
    store: FeedbackStore = env["store"]
    _claim_rows(store)
    keys = [dg.AssetKey("classifier_accuracy"), dg.AssetKey("corpus_splits")]
    mark_run_failed(env["resources"]["store"], {}, "boom", asset_keys=keys)
    assert store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]
    assert store.curation.committed_feedback("classifier", "1") == []
    # the extractor's loop asset names the extractor only (it has no default: nothing happens)
    mark_run_failed(
        env["resources"]["store"], {}, "boom", asset_keys=[dg.AssetKey("extractor_evaluation")]
    )
    assert store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]


def test_cancel_of_an_untagged_rematerialization_fails_the_cycle(env: dict[str, Any]) -> None:
    store: FeedbackStore = env["store"]
    _claim_rows(store)
    instance: dg.DagsterInstance = env["instance"]
    tick = _armed_sensor(env, "retraining_cancel_sensor")
    job = env["defs"].resolve_implicit_global_asset_job_def()
    selection = {dg.AssetKey("classifier_retraining_set"), dg.AssetKey("classifier_candidate")}
    run = instance.create_run_for_job(job, asset_selection=frozenset(selection))
    instance.report_run_canceled(run)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED  # type: ignore[union-attr]
    tick()
    _assert_failed_and_released(store, "run canceled")

"""The monitor's decision and claim, on a real SQLite store."""

from __future__ import annotations

from typing import Any

from selfimprove_assets.lib.loop import cycle, monitor
from selfimprove_assets.lib.store.repository import CycleInfo, FeedbackStore
from selfimprove_assets_tests.lib.loop.conftest import start_cycle
from selfimprove_assets_tests.lib.store.factories import commit_reviews


def test_no_default_no_observation(store: FeedbackStore) -> None:
    assert monitor.observe(store, "extractor", min_commits=1) is None


def test_too_little_evidence_is_not_claimed(store: FeedbackStore) -> None:
    commit_reviews(store, 10, wrong=8)
    seen = monitor.observe(store, "classifier", min_commits=30)
    assert seen is not None and not seen.claimed and not seen.decision.trigger
    assert seen.skip_reason == seen.decision.reason and "30" in (seen.skip_reason or "")
    assert seen.figures["doc_type"].corrected == 8
    assert store.models.get_default("classifier").retrain_state == "IDLE"  # type: ignore[union-attr]


def test_a_drop_is_claimed_once(store: FeedbackStore) -> None:
    commit_reviews(store, 40, wrong=20)
    seen = monitor.observe(store, "classifier", min_commits=30)
    assert seen is not None and seen.claimed and seen.skip_reason is None
    assert set(seen.trigger_fields()) == {"doc_type"}
    assert seen.trigger_fields()["doc_type"]["n"] == 40
    assert store.models.get_default("classifier").retrain_state == "TRIGGERED"  # type: ignore[union-attr]
    again = monitor.observe(store, "classifier", min_commits=30)
    assert again is not None and not again.claimed
    assert "TRIGGERED" in (again.skip_reason or "")


def test_observing_without_claiming_changes_nothing(store: FeedbackStore) -> None:
    commit_reviews(store, 40, wrong=20)
    seen = monitor.observe(store, "classifier", min_commits=30, claim=False)
    assert seen is not None and seen.decision.trigger and not seen.claimed
    assert store.models.get_default("classifier").retrain_state == "IDLE"  # type: ignore[union-attr]


SENSOR = {monitor.SENSOR_TAG: "{}"}  # what the accuracy sensor's run carries into the cycle
NO_GAIN = {"promote": False, "reasons": [], "failed": ["no gain"]}


def _reject(store: FeedbackStore, opened: CycleInfo, version: str) -> None:
    cycle.record_candidate(store, opened.cycle_id, opened.attempt, version)
    cycle.release(
        store, "classifier", opened.cycle_id, opened.attempt, decision=NO_GAIN, reason="rejected"
    )


def _observe(store: FeedbackStore, **kw: Any) -> monitor.Observation:
    seen = monitor.observe(store, "classifier", min_commits=30, **kw)
    assert seen is not None
    return seen


def test_a_rejection_rearms_the_next_attempt_after_as_many_documents_again(
    store: FeedbackStore,
) -> None:
    commit_reviews(store, 40, wrong=20)
    assert _observe(store).claimed
    _reject(store, start_cycle(store, trigger_tags=SENSOR), "2")  # v2 used all 40 rows
    seen = _observe(store)
    assert seen.decision.trigger and not seen.claimed and seen.rearm is not None
    assert (seen.rearm.rows_used, seen.rearm.needed, seen.rearm.new_documents) == (40, 40, 0)
    assert "40 more reviewed documents before v2.1 re-arms" in (seen.skip_reason or "")
    assert "automatic attempt 2 of 3" in (seen.skip_reason or "")
    commit_reviews(store, 39, wrong=20, start=100)
    assert "1 more reviewed documents" in (_observe(store).skip_reason or "")
    commit_reviews(store, 1, wrong=1, start=200)
    again = _observe(store)
    assert again.claimed and again.rearm is not None and again.rearm.next_name == "v2.1"
    default = store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "TRIGGERED"
    assert "re-arm v2.1" in (default.state_reason or "")
    second = start_cycle(store, trigger_tags=SENSOR)  # curation: the same cycle, attempt 2
    assert cycle.attempt_name(second.cycle_id, second.attempt) == "v2.1"
    assert store.curation.committed_feedback("classifier", "1") == []  # all 80 rows claimed


def test_the_cap_waits_for_an_operator_a_crash_never_counts_and_reset_restarts(
    store: FeedbackStore,
) -> None:
    commit_reviews(store, 40, wrong=20)
    rules = {"max_attempts": 2, "rearm_ratio": 0.5}
    assert _observe(store, **rules).claimed
    _reject(store, start_cycle(store, trigger_tags=SENSOR), "2")  # v2: rejection 1 of 2
    commit_reviews(store, 20, wrong=10, start=100)  # half of the 40 rows v2 used
    assert _observe(store, **rules).claimed
    start_cycle(store, trigger_tags=SENSOR)  # v2.1 crashes: no decision, no attempt counted
    cycle.fail(store, "classifier", "killed")
    crashed = _observe(store, **rules)
    assert crashed.claimed and crashed.rearm is None  # retried at once, as before
    third = start_cycle(store, trigger_tags=SENSOR)
    _reject(store, third, "4")  # v2.2: rejection 2 of 2
    commit_reviews(store, 60, wrong=30, start=200)
    capped = _observe(store, **rules)
    assert not capped.claimed and capped.rearm is not None and capped.rearm.capped
    assert capped.rearm.rejections == 2
    assert "waiting for an operator" in (capped.skip_reason or "")
    assert "max_attempts = 2" in (capped.skip_reason or "")
    # the operator resets: the count starts again, and the next rejection re-arms by itself
    cycle.reset(store, "classifier", actor="alice", reason="new curation config")
    assert _observe(store, **rules).claimed
    _reject(store, start_cycle(store, trigger_tags=SENSOR), "5")
    after = _observe(store, **rules)
    assert after.rearm is not None and after.rearm.rejections == 1 and not after.rearm.capped


def test_a_manual_rerun_is_not_an_automatic_attempt(store: FeedbackStore) -> None:
    commit_reviews(store, 40, wrong=20)
    assert _observe(store, max_attempts=1).claimed
    _reject(store, start_cycle(store, trigger_tags=SENSOR), "2")
    assert "waiting for an operator" in (_observe(store, max_attempts=1).skip_reason or "")
    _reject(store, start_cycle(store), "3")  # the operator re-materializes v2.1: rejected too
    seen = _observe(store, max_attempts=1)
    assert seen.rearm is not None and seen.rearm.rejections == 0 and not seen.rearm.capped
    assert "before v2.2 re-arms" in (seen.skip_reason or "")

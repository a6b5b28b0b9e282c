"""The monitor's decision and claim, on a real SQLite store."""

from __future__ import annotations

from selfimprove_assets.lib.loop import cycle, monitor
from selfimprove_assets.lib.store.repository import FeedbackStore
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


def test_a_rejection_waits_for_an_operator_a_crash_does_not(store: FeedbackStore) -> None:
    commit_reviews(store, 40, wrong=20)
    assert monitor.observe(store, "classifier", min_commits=30).claimed  # type: ignore[union-attr]
    opened = start_cycle(store, n_rows=1)
    cycle.record_candidate(store, opened.cycle_id, opened.attempt, "2")
    cycle.release(
        store,
        "classifier",
        opened.cycle_id,
        opened.attempt,
        decision={"promote": False, "reasons": [], "failed": ["no gain"]},
        reason="candidate v2 rejected",
    )
    seen = monitor.observe(store, "classifier", min_commits=30)
    assert seen is not None and seen.decision.trigger and not seen.claimed
    assert seen.waiting is not None and "waiting for an operator" in seen.waiting
    assert "v2 (v2)" in seen.waiting and seen.skip_reason == seen.waiting
    # A crash of the next attempt (no decision) may be triggered again.
    cycle.start(store, "classifier", "1", trigger_tags={}, run_id=None, feedback_ids=[])
    cycle.begin(store, "classifier")
    cycle.fail(store, "classifier", "killed")
    again = monitor.observe(store, "classifier", min_commits=30)
    assert again is not None and again.waiting is None and again.claimed

"""Every transition of the retrain state and of cycles, on a real SQLite store."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.loop.conftest import start_cycle
from selfimprove_assets_tests.lib.store.factories import commit_reviews


def _state(store: FeedbackStore) -> tuple[str, str | None]:
    default = store.models.get_default("classifier")
    assert default is not None
    return default.retrain_state, default.state_reason


def _start(store: FeedbackStore, run_id: str = "run-1") -> cycle.CycleInfo:
    return start_cycle(store, run_id=run_id, trigger_tags={"selfimprove/trigger": "{}"})


@pytest.mark.parametrize(
    ("cycle_id", "attempt", "name"),
    [
        ("classifier-v1-c1", 1, "v2"),
        ("classifier-v1-c1", 2, "v2.1"),
        ("extractor-v3-c2", 3, "v3.2"),
        ("classifier-v5-c4", 1, "v5"),
        ("hand-made", 2, "hand-made-a2"),
    ],
)
def test_attempt_names(cycle_id: str, attempt: int, name: str) -> None:
    assert cycle.attempt_name(cycle_id, attempt) == name


def test_claim_is_a_compare_and_set(store: FeedbackStore) -> None:
    assert cycle.claim(store, "classifier", "doc_type below 0.9")
    assert _state(store) == ("TRIGGERED", "doc_type below 0.9")
    assert not cycle.claim(store, "classifier", "again")  # TRIGGERED is not claimable
    assert _state(store)[1] == "doc_type below 0.9"


def test_start_opens_the_cycle_and_claims_the_rows(store: FeedbackStore) -> None:
    commit_reviews(store, 6, wrong=3)
    cycle.claim(store, "classifier", "below")
    opened = _start(store)
    assert _state(store) == ("INPROGRESS", "curating")
    assert (opened.cycle_id, opened.attempt) == ("classifier-v1-c1", 1)
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.dagster_run_id == "run-1"
    assert current.trigger == {"tags": {"selfimprove/trigger": "{}"}}
    assert store.curation.committed_feedback("classifier", "1") == []  # all claimed
    cycle.record_candidate(store, opened.cycle_id, opened.attempt, "2")
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.candidate_version == "2"


def test_fail_releases_the_rows_and_fails_the_cycle(store: FeedbackStore) -> None:
    commit_reviews(store, 5, wrong=2)
    cycle.claim(store, "classifier", "below")
    _start(store)
    assert cycle.fail(store, "classifier", "boom") == 5
    state, reason = _state(store)
    assert state == "FAILED" and reason == "retraining run failed: boom"
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.state == "FAILED"
    assert len(store.curation.committed_feedback("classifier", "1")) == 5
    # A second report of the same failure changes nothing.
    assert cycle.fail(store, "classifier", "boom again") == 0
    assert _state(store)[1] == "retraining run failed: boom"


def test_fail_leaves_a_settled_state_alone(store: FeedbackStore) -> None:
    assert cycle.fail(store, "classifier", "a run that touched nothing") == 0
    assert _state(store) == ("IDLE", None)


def test_rejection_releases_and_the_next_attempt_is_named(store: FeedbackStore) -> None:
    commit_reviews(store, 4, wrong=4)
    cycle.claim(store, "classifier", "below")
    first = _start(store)
    decision = {"promote": False, "reasons": ["x"], "failed": ["golden dropped"]}
    released = cycle.release(
        store, "classifier", first.cycle_id, first.attempt, decision=decision, reason="rejected"
    )
    assert released == 4
    assert _state(store) == ("FAILED", "rejected")
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.state == "FAILED"
    # the decision, plus what the re-arm rule needs: the rows the attempt used, the last commit
    assert current.decision == decision | {"rows_used": 4, "after_commit": 1}
    # The operator re-materializes: same cycle, attempt 2, named v2.1.
    second = _start(store, run_id="run-2")
    assert (second.cycle_id, second.attempt) == (first.cycle_id, 2)
    assert cycle.attempt_name(second.cycle_id, second.attempt) == "v2.1"
    archived = cycle.archive(store, second.cycle_id, second.attempt, "3", {"promote": True})
    assert archived == 4
    assert store.counters.count_feedback(archived=True) == 4
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.state == "COMPLETED"
    # The next cycle is a new one.
    commit_reviews(store, 2, wrong=1, start=100)
    assert _start(store, run_id="run-3").cycle_id == "classifier-v1-c2"


def test_rearm_goes_back_to_idle_without_touching_cycles(store: FeedbackStore) -> None:
    commit_reviews(store, 3, wrong=1)
    cycle.claim(store, "classifier", "below")
    _start(store)
    assert cycle.rearm(store, "classifier")
    assert _state(store)[0] == RetrainState.IDLE.value
    current = store.cycles.current_cycle("classifier")
    assert current is not None and current.state == "INPROGRESS"


def test_version_name_defaults_to_the_registry_number() -> None:
    assert cycle.version_name({}, "1") == "v1"
    assert cycle.version_name({cycle.VERSION_NAME_KEY: "v2.1"}, "3") == "v2.1"

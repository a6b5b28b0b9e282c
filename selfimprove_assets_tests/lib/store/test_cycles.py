"""Retrain cycles (``store.cycles``): attempts, and the rows a cycle claims, releases or
archives."""

from __future__ import annotations

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.store.factories import add_documents, review


def test_cycles_archive_and_release(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = add_documents(store, 4)
    for i in ids:
        review(store, i, "invoice", [])
    store.commits.commit_documents(ids)
    rows = store.curation.committed_feedback("classifier", "1")
    assert len(rows) == 4
    cycle = store.cycles.open_cycle("classifier", "1", {"doc_type": 0.5})
    assert cycle.attempt == 1
    store.cycles.mark_retrained([r["feedback_id"] for r in rows[:3]], cycle.cycle_id)
    assert len(store.curation.committed_feedback("classifier", "1")) == 1
    # rejected: rows come back
    assert store.cycles.release_cycle(cycle.cycle_id) == 3
    store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.FAILED)
    again = store.cycles.open_cycle("classifier", "1", {})
    assert (again.cycle_id, again.attempt) == (cycle.cycle_id, 2)
    store.cycles.mark_retrained([r["feedback_id"] for r in rows[:3]], again.cycle_id)
    assert store.cycles.archive_cycle(again.cycle_id, "2") == 3
    assert store.counters.count_feedback(archived=True) == 3
    assert store.counters.count_feedback() == 5  # 1 classifier row left + 4 extractor rows
    assert store.counters.archived_and_live_overlap() == 0
    assert store.counters.recount("classifier", "1") == store.counters.live_counters(
        "classifier", "1"
    )
    store.cycles.update_cycle(again.cycle_id, again.attempt, state=RetrainState.COMPLETED)
    third = store.cycles.open_cycle("classifier", "1", {})
    assert third.attempt == 1 and third.cycle_id != cycle.cycle_id
    store.dispose()


def test_archived_ids_are_never_reused(store_url: str) -> None:
    store = FeedbackStore(store_url)
    for round_ in range(2):
        ids = add_documents(store, 3)
        for i in ids:
            review(store, i, "invoice", [])
        store.commits.commit_documents(ids)
        # archive every row, so the highest ids leave feedback_data (SQLite would reuse them)
        rows = store.curation.committed_feedback(
            "classifier", "1"
        ) + store.curation.committed_feedback("extractor", "1")
        cycle = store.cycles.open_cycle("classifier", "1", {"round": round_})
        store.cycles.mark_retrained([r["feedback_id"] for r in rows], cycle.cycle_id)
        assert store.cycles.archive_cycle(cycle.cycle_id, "2") == 6
        assert store.counters.count_feedback() == 0
        store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.COMPLETED)
    assert store.counters.count_feedback(archived=True) == 12
    store.dispose()

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from selfimprove_assets.lib.store.models import CommitRow, DocumentRow, FeedbackRow
from selfimprove_assets.lib.store.repository import Conflict, FeedbackStore, NotFound
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.store.factories import assert_counters_equal_recount, entity

TYPES = ["referral", "lab_report", "invoice"]
LABELS = ["patient_name", "mrn", "total"]


def _add(store: FeedbackStore, n: int = 1, version: str = "1") -> list[str]:
    ids = []
    for i in range(n):
        ids.append(
            store.add_document(
                content_hash=f"h{i}",
                media_type="application/pdf",
                size_bytes=100,
                page_count=1,
                pages_uri="pages/x.parquet",
                blob_uri="blobs/x",
                predictions=[
                    ("classifier", version, {"doc_type": "referral", "confidence": 0.9}),
                    (
                        "extractor",
                        version,
                        {"entities": [entity("patient_name", "Ann Lee"), entity("mrn", "123")]},
                    ),
                ],
            )
        )
    return ids


def _review(
    store: FeedbackStore, doc_id: str, doc_type: str, entities: list[dict[str, Any]]
) -> None:
    store.set_review(
        doc_id,
        verified={"classifier": {"doc_type": doc_type}, "extractor": {"entities": entities}},
        reviewer="r1",
    )


def test_commit_updates_counters_and_is_idempotent(store_url: str) -> None:
    store = FeedbackStore(store_url)
    a, b = _add(store, 2)
    _review(store, a, "referral", [entity("patient_name", "Ann Lee"), entity("mrn", "123")])
    _review(store, b, "invoice", [entity("patient_name", "Ann Leigh"), entity("total", "$5")])

    first = store.commit_documents([a, b, "nope"])
    assert sorted(first.committed) == sorted([a, b])
    assert first.unknown == ["nope"]
    assert first.corrected == {"classifier": 1, "extractor": 1}

    counters = store.live_counters("classifier", "1")
    assert counters["doc_type"]["committed"] == 2
    assert counters["doc_type"]["corrected"] == 1
    ext = store.live_counters("extractor", "1")
    assert ext["patient_name"]["unchanged"] == 1 and ext["patient_name"]["modified"] == 1
    assert ext["mrn"]["removed"] == 1 and ext["total"]["added"] == 1
    assert store.recount("extractor", "1") == ext

    second = store.commit_documents([a, b])
    assert second.committed == [] and sorted(second.already_committed) == sorted([a, b])
    assert second.commit_id is None
    assert store.live_counters("classifier", "1") == counters
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(CommitRow)) == 1

    with pytest.raises(Conflict):
        _review(store, a, "invoice", [])
    store.dispose()


def test_unreviewed_and_unknown_documents(store_url: str) -> None:
    store = FeedbackStore(store_url)
    (a,) = _add(store)
    result = store.commit_documents([a])
    assert result.not_reviewed == [a] and result.commit_id is None
    with pytest.raises(NotFound):
        store.set_review("missing", verified={"classifier": {"doc_type": "x"}})
    store.dispose()


def test_failed_transaction_leaves_no_partial_rows(store_url: str) -> None:
    store = FeedbackStore(store_url)
    with pytest.raises(IntegrityError):
        store.add_document(
            content_hash="h",
            media_type="application/pdf",
            size_bytes=1,
            page_count=1,
            pages_uri="p",
            blob_uri="b",
            # the second prediction violates the (document, model type) unique constraint
            predictions=[("classifier", "1", {"doc_type": "a"}), ("classifier", "1", {})],
        )
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(DocumentRow)) == 0
        assert s.scalar(select(func.count()).select_from(FeedbackRow)) == 0
    store.dispose()


def test_concurrent_commits_of_the_same_document_count_once(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = _add(store, 5)
    for i in ids:
        _review(store, i, "invoice", [entity("patient_name", "Bob")])
    barrier = threading.Barrier(6)
    results = []

    def worker() -> None:
        barrier.wait()
        results.append(store.commit_documents(ids))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.committed) for r in results) == 5
    counters = store.live_counters("classifier", "1")
    assert counters["doc_type"] == {
        "committed": 5,
        "corrected": 5,
        "unchanged": 0,
        "modified": 5,
        "added": 0,
        "removed": 0,
    }
    assert store.recount("classifier", "1") == counters
    assert store.recount("extractor", "1") == store.live_counters("extractor", "1")
    store.dispose()


review_strategy = st.tuples(
    st.sampled_from(TYPES),
    st.lists(
        st.tuples(st.sampled_from(LABELS), st.sampled_from(["Ann Lee", "123", "$5", "Bo"])),
        max_size=4,
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reviews=st.lists(review_strategy, min_size=1, max_size=8),
    batches=st.lists(st.lists(st.integers(0, 7), max_size=6), max_size=6),
)
def test_counters_equal_recount_after_random_commit_sequences(
    tmp_path_factory: pytest.TempPathFactory, reviews: list, batches: list[list[int]]
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'store.db'}"
    store = FeedbackStore(url)
    ids = _add(store, len(reviews))
    for doc_id, (doc_type, ents) in zip(ids, reviews, strict=True):
        _review(store, doc_id, doc_type, [entity(lbl, txt) for lbl, txt in ents])
    for batch in [*batches, list(range(len(ids)))]:
        store.commit_documents([ids[i] for i in batch if i < len(ids)])
    assert_counters_equal_recount(store, len(ids))
    store.dispose()


def test_model_table_default_and_state_machine(store_url: str) -> None:
    store = FeedbackStore(store_url)
    store.register_version(model_type="extractor", version="1", registry_name="entity-extractor")
    store.register_version(model_type="extractor", version="2", registry_name="entity-extractor")
    store.set_default("extractor", "1", thresholds={"mrn": 0.9}, state=RetrainState.IDLE)
    assert store.get_default("extractor").version == "1"  # type: ignore[union-attr]
    assert store.set_retrain_state(
        "extractor", RetrainState.TRIGGERED, expected=[RetrainState.IDLE, RetrainState.FAILED]
    )
    # a second trigger attempt loses the compare-and-set
    assert not store.set_retrain_state(
        "extractor", RetrainState.TRIGGERED, expected=[RetrainState.IDLE, RetrainState.FAILED]
    )
    store.set_default("extractor", "2", thresholds={"mrn": 0.93})
    defaults = [m for m in store.list_versions("extractor") if m.is_default]
    assert [m.version for m in defaults] == ["2"]
    assert defaults[0].retrain_state == "COMPLETED"
    with pytest.raises(NotFound):
        store.set_default("extractor", "9", thresholds={})
    store.dispose()


def test_cycles_archive_and_release(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = _add(store, 4)
    for i in ids:
        _review(store, i, "invoice", [])
    store.commit_documents(ids)
    rows = store.committed_feedback("classifier", "1")
    assert len(rows) == 4
    cycle = store.open_cycle("classifier", "1", {"doc_type": 0.5})
    assert cycle.attempt == 1
    store.mark_retrained([r["feedback_id"] for r in rows[:3]], cycle.cycle_id)
    assert len(store.committed_feedback("classifier", "1")) == 1
    # rejected: rows come back
    assert store.release_cycle(cycle.cycle_id) == 3
    store.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.FAILED)
    again = store.open_cycle("classifier", "1", {})
    assert (again.cycle_id, again.attempt) == (cycle.cycle_id, 2)
    store.mark_retrained([r["feedback_id"] for r in rows[:3]], again.cycle_id)
    assert store.archive_cycle(again.cycle_id, "2") == 3
    assert store.count_feedback(archived=True) == 3
    assert store.count_feedback() == 5  # 1 classifier row left + 4 extractor rows
    assert store.archived_and_live_overlap() == 0
    assert store.recount("classifier", "1") == store.live_counters("classifier", "1")
    store.update_cycle(again.cycle_id, again.attempt, state=RetrainState.COMPLETED)
    third = store.open_cycle("classifier", "1", {})
    assert third.attempt == 1 and third.cycle_id != cycle.cycle_id
    store.dispose()


def test_archived_ids_are_never_reused(store_url: str) -> None:
    store = FeedbackStore(store_url)
    for round_ in range(2):
        ids = _add(store, 3)
        for i in ids:
            _review(store, i, "invoice", [])
        store.commit_documents(ids)
        # archive every row, so the highest ids leave feedback_data (SQLite would reuse them)
        rows = store.committed_feedback("classifier", "1") + store.committed_feedback(
            "extractor", "1"
        )
        cycle = store.open_cycle("classifier", "1", {"round": round_})
        store.mark_retrained([r["feedback_id"] for r in rows], cycle.cycle_id)
        assert store.archive_cycle(cycle.cycle_id, "2") == 6
        assert store.count_feedback() == 0
        store.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.COMPLETED)
    assert store.count_feedback(archived=True) == 12
    store.dispose()

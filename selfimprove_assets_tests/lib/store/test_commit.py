"""The batched commit path: what it writes, that it never loses or doubles a document under
concurrency, and that its cost in SQL statements does not grow with the batch."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, func, select

from selfimprove_assets.lib.store.outcomes import compute_outcome
from selfimprove_assets.lib.store.repository import CommitResult, Conflict, FeedbackStore, NotFound
from selfimprove_assets.lib.store.tables import CommitRow, FeedbackRow
from selfimprove_assets_tests.lib.store.factories import (
    add_documents,
    assert_counters_equal_recount,
    entity,
    review,
    stored_document,
)

TYPES = ["referral", "lab_report", "invoice"]


def seed_documents(
    store: FeedbackStore, n: int, *, seed: int = 0, review: bool = True
) -> list[str]:
    """``n`` documents with both predictions and (optionally) a review with varied outcomes."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        predicted = [entity("patient_name", f"Ann {i}"), entity("mrn", str(i), 30)]
        doc_id = stored_document(
            store,
            f"h{i}",
            [
                ("classifier", "1", {"doc_type": TYPES[i % 3], "confidence": 0.9}),
                ("extractor", "1", {"entities": predicted}),
            ],
        )
        if review:
            verified = [dict(e) for e in predicted]
            if rng.random() < 0.4:
                verified[0]["text"] = f"Anne {i}"  # modified
            if rng.random() < 0.3:
                verified.pop()  # removed
            if rng.random() < 0.3:
                verified.append(entity("total", "$5", 50))  # added
            store.commits.set_review(
                doc_id,
                verified={
                    "classifier": {"doc_type": rng.choice(TYPES)},
                    "extractor": {"entities": verified},
                },
                reviewer="r",
            )
        ids.append(doc_id)
    return ids


def feedback_rows(store: FeedbackStore) -> list[dict[str, Any]]:
    with store.session() as s:
        return [
            {
                "id": r.id,
                "document_id": r.document_id,
                "model_type": r.model_type,
                "predicted": r.predicted,
                "verified": r.verified,
                "committed_at": r.committed_at,
                "commit_id": r.commit_id,
                "corrected": r.corrected,
                "field_outcomes": r.field_outcomes,
            }
            for r in s.scalars(select(FeedbackRow).order_by(FeedbackRow.id))
        ]


def _commits(store: FeedbackStore) -> dict[int, tuple[int, int]]:
    with store.session() as s:
        return {c.id: (c.requested, c.committed) for c in s.scalars(select(CommitRow))}


def test_commit_writes_the_outcomes_and_a_second_commit_changes_nothing(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = seed_documents(store, 12, seed=3)
    first = store.commits.commit_documents(ids, committed_by="alice")
    assert sorted(first.committed) == sorted(ids) and first.commit_id is not None
    rows = feedback_rows(store)
    assert len(rows) == 24
    for row in rows:
        expected = compute_outcome(row["model_type"], row["predicted"], row["verified"])
        assert row["commit_id"] == first.commit_id and row["committed_at"] is not None
        assert row["field_outcomes"] == expected.field_outcomes  # JSON written intact
        assert row["corrected"] is expected.corrected
    assert first.corrected == {
        t: sum(r["corrected"] for r in rows if r["model_type"] == t)
        for t in ("classifier", "extractor")
    }
    assert _commits(store) == {first.commit_id: (12, 12)}
    counters = {t: store.counters.live_counters(t, "1") for t in ("classifier", "extractor")}
    assert counters == {t: store.counters.recount(t, "1") for t in counters}

    again = store.commits.commit_documents(list(reversed(ids)))
    assert again.commit_id is None and again.committed == [] and again.corrected == {}
    assert again.already_committed == sorted(ids)
    assert feedback_rows(store) == rows
    assert _commits(store) == {first.commit_id: (12, 12)}  # no commit row for a no-op
    assert {t: store.counters.live_counters(t, "1") for t in counters} == counters
    store.dispose()


def test_mixed_batch_reports_each_document_once(store_url: str) -> None:
    store = FeedbackStore(store_url)
    done, fresh = seed_documents(store, 2, seed=1)
    (unreviewed,) = seed_documents(store, 1, review=False)
    (half,) = seed_documents(store, 1, review=False)
    store.commits.set_review(half, verified={"classifier": {"doc_type": "invoice"}}, reviewer="r")
    store.commits.commit_documents([done])
    result = store.commits.commit_documents([fresh, "missing", unreviewed, done, half, fresh])
    assert result.committed == [fresh]
    assert result.already_committed == [done]
    assert sorted(result.not_reviewed) == sorted([unreviewed, half])
    assert result.unknown == ["missing"]
    assert result.commit_id is not None
    assert _commits(store)[result.commit_id] == (5, 1)
    half_rows = [r for r in feedback_rows(store) if r["document_id"] == half]
    assert all(r["committed_at"] is None for r in half_rows)  # nothing half-committed
    store.dispose()


def test_overlapping_concurrent_batches_commit_every_document_once(store_url: str) -> None:
    """Threads commit overlapping batches in random orders (no retry): no deadlock, no loss,
    no double count, and every commit row agrees with the feedback rows that carry its id."""
    store = FeedbackStore(store_url)
    ids = seed_documents(store, 40, seed=5)
    results: list[CommitResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(k: int) -> None:
        rng = random.Random(k)
        batches = [rng.sample(ids, 10) for _ in range(6)] + [rng.sample(ids, len(ids))]
        barrier.wait()
        for batch in batches:
            try:
                result = store.commits.commit_documents(batch)
            except BaseException as exc:  # a deadlock or a lost update surfaces here
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    committed = Counter(d for r in results for d in r.committed)
    assert set(committed) == set(ids) and set(committed.values()) == {1}
    rows = feedback_rows(store)
    assert all(r["commit_id"] is not None for r in rows)
    docs_per_commit = Counter(
        commit_id for commit_id, _ in {(r["commit_id"], r["document_id"]) for r in rows}
    )
    commits = _commits(store)
    assert {c: n for c, (_, n) in commits.items()} == dict(docs_per_commit)
    assert {r.commit_id: len(r.committed) for r in results if r.committed} == dict(docs_per_commit)
    assert_counters_equal_recount(store, len(ids))
    store.dispose()


def test_statements_per_commit_do_not_grow_with_the_batch(store_url: str) -> None:
    """The cost the issue measured: ~25 statements per batch of 10 through the ORM."""
    store = FeedbackStore(store_url)
    ids = seed_documents(store, 22, seed=2)
    statements: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def cost(batch: list[str]) -> int:
        statements.clear()
        assert len(store.commits.commit_documents(batch).committed) == len(batch)
        return len(statements)

    small, large = cost(ids[:2]), cost(ids[2:22])
    assert small == large <= 6, statements
    statements.clear()
    store.commits.commit_documents(ids[:10])  # all already committed: a read and nothing else
    assert len([s for s in statements if not s.lstrip().upper().startswith("BEGIN")]) == 1
    store.dispose()


def test_commit_updates_counters_and_is_idempotent(store_url: str) -> None:
    store = FeedbackStore(store_url)
    a, b = add_documents(store, 2)
    review(store, a, "referral", [entity("patient_name", "Ann Lee"), entity("mrn", "123")])
    review(store, b, "invoice", [entity("patient_name", "Ann Leigh"), entity("total", "$5")])

    first = store.commits.commit_documents([a, b, "nope"])
    assert sorted(first.committed) == sorted([a, b])
    assert first.unknown == ["nope"]
    assert first.corrected == {"classifier": 1, "extractor": 1}

    counters = store.counters.live_counters("classifier", "1")
    assert counters["doc_type"]["committed"] == 2
    assert counters["doc_type"]["corrected"] == 1
    ext = store.counters.live_counters("extractor", "1")
    assert ext["patient_name"]["unchanged"] == 1 and ext["patient_name"]["modified"] == 1
    assert ext["mrn"]["removed"] == 1 and ext["total"]["added"] == 1
    assert store.counters.recount("extractor", "1") == ext

    second = store.commits.commit_documents([a, b])
    assert second.committed == [] and sorted(second.already_committed) == sorted([a, b])
    assert second.commit_id is None
    assert store.counters.live_counters("classifier", "1") == counters
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(CommitRow)) == 1

    with pytest.raises(Conflict):
        review(store, a, "invoice", [])
    store.dispose()


def test_unreviewed_and_unknown_documents(store_url: str) -> None:
    store = FeedbackStore(store_url)
    (a,) = add_documents(store)
    result = store.commits.commit_documents([a])
    assert result.not_reviewed == [a] and result.commit_id is None
    with pytest.raises(NotFound):
        store.commits.set_review("missing", verified={"classifier": {"doc_type": "x"}})
    store.dispose()


def test_concurrent_commits_of_the_same_document_count_once(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = add_documents(store, 5)
    for i in ids:
        review(store, i, "invoice", [entity("patient_name", "Bob")])
    barrier = threading.Barrier(6)
    results = []

    def worker() -> None:
        barrier.wait()
        results.append(store.commits.commit_documents(ids))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.committed) for r in results) == 5
    counters = store.counters.live_counters("classifier", "1")
    assert counters["doc_type"] == {
        "committed": 5,
        "corrected": 5,
        "unchanged": 0,
        "modified": 5,
        "added": 0,
        "removed": 0,
    }
    assert store.counters.recount("classifier", "1") == counters
    assert store.counters.recount("extractor", "1") == store.counters.live_counters(
        "extractor", "1"
    )
    store.dispose()

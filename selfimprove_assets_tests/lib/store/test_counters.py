"""Counters (``store.counters``): after any sequence of commits they equal a recount from the
committed feedback rows, and the counts the sensors read agree with them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.lib.store.factories import (
    add_documents,
    assert_counters_equal_recount,
    entity,
    review,
)

TYPES = ["referral", "lab_report", "invoice"]
LABELS = ["patient_name", "mrn", "total"]

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
    ids = add_documents(store, len(reviews))
    for doc_id, (doc_type, ents) in zip(ids, reviews, strict=True):
        review(store, doc_id, doc_type, [entity(lbl, txt) for lbl, txt in ents])
    for batch in [*batches, list(range(len(ids)))]:
        store.commits.commit_documents([ids[i] for i in batch if i < len(ids)])
    assert_counters_equal_recount(store, len(ids))
    store.dispose()


def test_commit_counts_after_a_commit_id(store_url: str) -> None:
    store = FeedbackStore(store_url)
    assert store.counters.max_commit_id() == 0
    first, second = add_documents(store, 2)
    review(store, first, "referral", [])
    review(store, second, "invoice", [entity("mrn", "123")])
    one = store.commits.commit_documents([first]).commit_id
    two = store.commits.commit_documents([second]).commit_id
    assert one is not None and two is not None and store.counters.max_commit_id() == two
    assert store.counters.committed_count("classifier", "1") == 2
    assert store.counters.committed_count("classifier", "1", after_commit_id=one) == 1
    assert store.counters.committed_count("classifier", "2") == 0
    for model_type in ("classifier", "extractor"):
        assert store.counters.counter_commit_total(model_type, "1") == 2
    assert store.counters.count_feedback() == 4
    assert store.counters.count_feedback(archived=True) == 0
    store.dispose()

"""What ``curation_rows`` hands to curation, on both backends."""

from __future__ import annotations

import json
from datetime import UTC

import pandas as pd
from sqlalchemy import select

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.store.tables import FeedbackRow
from selfimprove_assets_tests.lib.store.test_commit import feedback_rows, seed_documents


def test_curation_rows_carry_the_review_and_decode_each_value_once(store_url: str) -> None:
    store = FeedbackStore(store_url)
    ids = seed_documents(store, 14, seed=4)
    store.commits.commit_documents(ids[:6])
    store.commits.commit_documents(ids[6:12])  # two commits (two timestamps); ids[12:] uncommitted
    stored = {r["id"]: r for r in feedback_rows(store)}
    docs = {i: store.documents.get_document(i) for i in ids}
    for model_type in ("classifier", "extractor"):
        rows = store.curation.curation_rows(model_type, "1")
        assert [r["feedback_id"] for r in rows] == sorted(
            fid
            for fid, r in stored.items()
            if r["model_type"] == model_type and r["committed_at"] is not None
        )
        for row in rows:
            fb, doc = stored[row["feedback_id"]], docs[row["document_id"]]
            classifier = doc["feedback"]["classifier"]
            assert row["field_outcomes"] == fb["field_outcomes"]
            assert row["corrected"] is fb["corrected"]
            expected = doc["feedback"][model_type]["committed_at"]
            if expected.tzinfo is None:  # SQLite drops the zone; the store writes UTC
                expected = expected.replace(tzinfo=UTC)
            assert row["committed_at"] == expected and row["committed_at"].tzinfo is UTC
            assert row["verified_doc_type"] == classifier["verified"]["doc_type"]
            assert row["predicted_doc_type"] == (
                classifier["predicted"]["doc_type"] if model_type == "classifier" else None
            )
            assert row["fingerprint"] == doc["content_hash"]
            assert (row["reviewer"], row["retrained"], row["model_version"]) == ("r", False, "1")
        # equal stored outcomes come back as one shared dict (decoded once)
        objects: dict[str, set[int]] = {}
        for row in rows:
            key = json.dumps(row["field_outcomes"], sort_keys=True)
            objects.setdefault(key, set()).add(id(row["field_outcomes"]))
        assert all(len(v) == 1 for v in objects.values())
        assert len(objects) < len(rows) or model_type == "extractor"
        assert len({r["committed_at"] for r in rows}) == 2
    frame = pd.DataFrame(store.curation.curation_rows("extractor", "1"))
    assert str(frame["committed_at"].dtype) == "datetime64[ns, UTC]"
    store.dispose()


def test_a_curation_read_does_not_hold_the_sqlite_write_lock(sqlite_url: str) -> None:
    """SQLite writers take the write lock at BEGIN; a read-only connection must not, or a
    curation reading 500k rows would stall every commit meanwhile (busy timeout: 60 s)."""
    store = FeedbackStore(sqlite_url)
    ids = seed_documents(store, 3)
    with store.db.read_connection() as conn:
        assert len(conn.execute(select(FeedbackRow.id)).all()) == 6  # read transaction open
        assert sorted(store.commits.commit_documents(ids).committed) == sorted(ids)
    store.dispose()

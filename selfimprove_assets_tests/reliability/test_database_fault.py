"""The database goes away during a commit (real PostgreSQL, stopped or its backend killed).

The fault is injected at the moment the store runs the commit's ``UPDATE feedback``: a
SQLAlchemy ``before_cursor_execute`` hook either kills the whole server (``pg_ctl stop -m
immediate``) or terminates this connection's backend. Either way the statement runs against a
dead connection; nothing is mocked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, ApiHarness
from selfimprove_assets_tests.reliability.invariants import (
    assert_counters_equal_recount,
    review_body,
)
from selfimprove_assets_tests.reliability.pg_control import ControllablePostgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def fault_on_commit_update(store: FeedbackStore, fault: Callable[[Any], None]) -> Iterator[list]:
    """Run ``fault(connection)`` once, just before the commit's first ``UPDATE feedback``."""
    fired: list[int] = []

    def hook(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("UPDATE FEEDBACK"):
            fired.append(1)
            fault(conn)

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def reviewed_documents(api: ApiHarness, n: int) -> list[str]:
    ids = []
    for path in api.models.files[:n]:
        upload = api.upload(path)
        assert upload.status_code == 201, upload.text
        doc_id = upload.json()["id"]
        review = api.client.put(
            f"/v1/documents/{doc_id}/review",
            json=review_body(upload.json()["prediction"]),
            headers=REVIEWER,
        )
        assert review.status_code == 200, review.text
        ids.append(doc_id)
    return ids


def commit(api: ApiHarness, ids: list[str]) -> Any:
    return api.client.post("/v1/commits", json={"document_ids": ids}, headers=REVIEWER)


DB_PASSWORD = "db-secret-password-7"


def test_server_stops_mid_commit_503_then_retry_commits_exactly_once(
    make_api: ApiFactory, own_postgres: ControllablePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    # A password in the URL (the server trusts loopback, so any password works): it must never
    # reach an answer or a log line when the database fails.
    url = own_postgres.create_database().replace("selfimprove@", f"selfimprove:{DB_PASSWORD}@")
    api = make_api(url, raise_server_exceptions=False)
    caplog.set_level(logging.DEBUG)
    ids = reviewed_documents(api, 3)
    documents_before = api.store.documents.count_documents()

    with fault_on_commit_update(api.store, lambda _conn: own_postgres.stop()) as fired:
        down = commit(api, ids)
    try:
        assert fired, "the fault was never injected"
        assert down.status_code == 503, down.text
        error = down.json()["error"]
        assert error["code"] == "store_unavailable" and "retry" in error["message"].lower()
        assert down.headers["retry-after"].isdigit()
        assert "postgresql://" not in down.text and "UPDATE" not in down.text
        # While the database is down: the service stays up, every store call answers 503.
        assert api.client.get("/health").status_code == 200
        assert commit(api, ids).status_code == 503
        assert api.upload(api.models.files[4]).status_code == 503
    finally:
        own_postgres.start()

    assert "feedback store unavailable" in caplog.text  # the operator is told, once per request
    assert DB_PASSWORD not in caplog.text
    retried = commit(api, ids)
    assert retried.status_code == 200, retried.text
    assert retried.json()["committed"] == 3 and retried.json()["already_committed"] == 0
    again = commit(api, ids)
    assert again.json()["committed"] == 0 and again.json()["already_committed"] == 3
    # the failed upload left no row
    assert api.store.documents.count_documents() == documents_before
    assert_counters_equal_recount(api.store)
    for model_type in ("classifier", "extractor"):
        assert api.store.counters.committed_count(model_type, "1") == 3
    for doc_id in ids:
        state = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["review"]
        assert state["committed"] is True


def test_backend_killed_mid_commit_is_retried_by_the_server(
    make_api: ApiFactory, own_postgres: ControllablePostgres
) -> None:
    api = make_api(own_postgres.create_database(), raise_server_exceptions=False)
    ids = reviewed_documents(api, 2)

    def kill_this_backend(conn: Any) -> None:
        own_postgres.terminate_backend(conn.connection.dbapi_connection.info.backend_pid)

    with fault_on_commit_update(api.store, kill_this_backend) as fired:
        response = commit(api, ids)
    assert fired
    # The commit is idempotent, so the server retries a dropped connection on a fresh one.
    assert response.status_code == 200, response.text
    assert response.json()["committed"] == 2
    assert commit(api, ids).json()["already_committed"] == 2
    assert_counters_equal_recount(api.store)
    assert api.store.counters.max_commit_id() >= 1

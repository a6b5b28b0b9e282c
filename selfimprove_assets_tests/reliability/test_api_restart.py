"""The API process is killed (SIGKILL) in the middle of a stream of commits and restarted.

Four reviewer threads upload, review and commit over real HTTP to ``selfimprove serve`` running
as a subprocess on a loopback port. After a few acknowledged commits the server is killed with
requests in flight, then started again on the same port; the reviewers retry what was not
acknowledged. Every commit the server acknowledged must be in the store, counted once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from selfimprove_assets_tests.api.conftest import REVIEWER, REVIEWER_TOKEN, TinyModels
from selfimprove_assets_tests.reliability.invariants import (
    assert_counters_equal_recount,
    review_body,
)
from selfimprove_assets_tests.reliability.live_server import serve_v1

pytestmark = pytest.mark.slow

CLIENTS = 4
COMMITS_PER_CLIENT = 4
KILL_AFTER = 5


class Reviewer(threading.Thread):
    """Upload → review → commit, one document at a time; retry whatever was not acknowledged."""

    def __init__(self, url: str, files: list[Path], deadline: float) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, headers=REVIEWER, timeout=30.0)
        self.files = files
        self.deadline = deadline
        self.acknowledged: list[str] = []
        self.transport_errors = 0
        self.http_errors: list[tuple[int, str]] = []

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        while time.monotonic() < self.deadline:
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError:  # the server is down: wait for it, then retry
                self.transport_errors += 1
                time.sleep(0.2)
                continue
            if response.status_code >= 400:
                self.http_errors.append((response.status_code, response.text[:200]))
                raise AssertionError(f"{method} {url}: {response.status_code} {response.text}")
            return response
        raise TimeoutError("the server did not come back in time")

    def run(self) -> None:
        for i in range(COMMITS_PER_CLIENT):
            path = self.files[i % len(self.files)]
            upload = self._call(
                "POST", "/v1/documents", files={"file": (path.name, path.read_bytes())}
            )
            doc_id = upload.json()["id"]
            self._call(
                "PUT",
                f"/v1/documents/{doc_id}/review",
                json=review_body(upload.json()["prediction"]),
            )
            committed = self._call("POST", "/v1/commits", json={"document_ids": [doc_id]}).json()
            assert committed["committed"] + committed["already_committed"] == 1
            self.acknowledged.append(doc_id)


def test_every_acknowledged_commit_survives_a_kill_9_restart(
    tiny_models: TinyModels, postgres_url: str, tmp_path: Path
) -> None:
    store, server = serve_v1(tiny_models, postgres_url, tmp_path)
    try:
        deadline = time.monotonic() + 120
        reviewers = [
            Reviewer(server.url, tiny_models.files[i::CLIENTS], deadline) for i in range(CLIENTS)
        ]
        for reviewer in reviewers:
            reviewer.start()
        while sum(len(r.acknowledged) for r in reviewers) < KILL_AFTER:
            assert time.monotonic() < deadline and any(r.is_alive() for r in reviewers)
            time.sleep(0.02)
        server.kill()  # requests are in flight on the other reviewers
        acknowledged_at_kill = sum(len(r.acknowledged) for r in reviewers)
        time.sleep(0.5)
        server.start()
        for reviewer in reviewers:
            reviewer.join(timeout=max(1.0, deadline - time.monotonic()))
            assert not reviewer.is_alive()
        # The review page takes ?token= (a link a reviewer opens): the access log must blank it.
        page = httpx.get(
            f"{server.url}/review/{reviewers[0].acknowledged[0]}?token={REVIEWER_TOKEN}"
        )
        assert page.status_code == 200
    finally:
        server.stop()

    assert server.starts == 2
    assert acknowledged_at_kill < CLIENTS * COMMITS_PER_CLIENT  # the kill was mid-stream
    assert sum(r.transport_errors for r in reviewers) > 0  # someone saw the server vanish
    assert not [e for r in reviewers for e in r.http_errors]
    acknowledged = [doc for r in reviewers for doc in r.acknowledged]
    assert len(acknowledged) == CLIENTS * COMMITS_PER_CLIENT
    for doc_id in acknowledged:
        document = store.documents.get_document(doc_id)
        assert all(f["committed_at"] is not None for f in document["feedback"].values()), doc_id
    for model_type in ("classifier", "extractor"):
        assert store.counters.committed_count(model_type, "1") == len(acknowledged)
    assert_counters_equal_recount(store)
    assert REVIEWER_TOKEN not in server.log()  # the access log never shows a credential
    store.dispose()

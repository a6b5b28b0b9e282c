"""Bounded load: 50 concurrent reviewers against ``selfimprove serve`` while the default swaps.

Fifty threads, each with its own HTTP connection on loopback, upload, review and commit a fixed
number of documents and send one deliberately bad request each. A tenth of the way in, a new
classifier version is promoted (registered, made the default in the model table, ``champion``
alias moved), and the server hot-swaps to it. The run ends by itself after a fixed number of
requests. Afterwards: no request failed except the deliberate 4xx, counters equal a recount,
and every stored prediction names the version the response said made it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from selfimprove_assets_tests.api.conftest import REVIEWER, TinyModels, register
from selfimprove_assets_tests.reliability.invariants import (
    assert_counters_equal_recount,
    review_body,
)
from selfimprove_assets_tests.reliability.live_server import serve_v1

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENTS = 50
DOCUMENTS_PER_CLIENT = 3
REQUESTS = CLIENTS * (DOCUMENTS_PER_CLIENT * 3 + 1)


class Client(threading.Thread):
    def __init__(self, url: str, files: list[Path], start: threading.Barrier) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.files = files
        self.barrier = start
        self.latencies: list[float] = []
        self.unexpected: list[str] = []
        self.deliberate: list[int] = []
        self.predictions: list[tuple[str, str]] = []  # (document id, classifier version)

    def _timed(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        response = http.request(method, url, **kwargs)
        self.latencies.append(time.perf_counter() - started)
        return response

    def _expect(self, response: httpx.Response, status: int) -> bool:
        if response.status_code != status:
            self.unexpected.append(f"{response.request.url.path}: {response.status_code}")
            return False
        return True

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=REVIEWER, timeout=60.0) as http:
            self.barrier.wait(timeout=60)
            ids = []
            for path in self.files:
                upload = self._timed(
                    http, "POST", "/v1/documents", files={"file": (path.name, path.read_bytes())}
                )
                if not self._expect(upload, 201):
                    continue
                body = upload.json()
                self.predictions.append((body["id"], body["model_versions"]["classifier"]))
                review = self._timed(
                    http,
                    "PUT",
                    f"/v1/documents/{body['id']}/review",
                    json=review_body(body["prediction"]),
                )
                if self._expect(review, 200):
                    ids.append(body["id"])
            # Deliberate 4xx: a review that breaks the schema.
            bad = self._timed(http, "PUT", f"/v1/documents/{ids[0]}/review", json={"x": 1})
            self.deliberate.append(bad.status_code)
            for doc_id in ids:  # one commit per document: many small transactions
                commit = self._timed(http, "POST", "/v1/commits", json={"document_ids": [doc_id]})
                self._expect(commit, 200)


@pytest.fixture
def champion_restored(tiny_models: TinyModels) -> Iterator[MlflowClient]:
    """The tiny models' registry is shared by the session: put ``champion`` back afterwards."""
    client = MlflowClient(tracking_uri=tiny_models.tracking_uri)
    yield client
    client.set_registered_model_alias(tiny_models.registry_names["classifier"], "champion", "1")


def test_fifty_reviewers_during_a_promotion(
    tiny_models: TinyModels,
    postgres_url: str,
    tmp_path: Path,
    champion_restored: MlflowClient,
) -> None:
    store, server = serve_v1(tiny_models, postgres_url, tmp_path)
    files = tiny_models.files
    barrier = threading.Barrier(CLIENTS + 1)
    clients = [
        Client(
            server.url, [files[(i + k) % len(files)] for k in range(DOCUMENTS_PER_CLIENT)], barrier
        )
        for i in range(CLIENTS)
    ]
    try:
        for client in clients:
            client.start()
        barrier.wait(timeout=60)
        started = time.perf_counter()
        deadline = time.monotonic() + 180  # bounded: a wedged server fails, never hangs
        while sum(len(c.latencies) for c in clients) < REQUESTS // 10:
            assert time.monotonic() < deadline, f"no progress: {server.log()[-3000:]}"
            time.sleep(0.01)
        # The promotion: registry alias and model table, as deploy_version does.
        register(store, tiny_models, "classifier", "2", parent="1")
        champion_restored.set_registered_model_alias(
            tiny_models.registry_names["classifier"], "champion", "2"
        )
        promoted_at = sum(len(c.latencies) for c in clients)
        for client in clients:
            client.join(timeout=max(0.1, deadline - time.monotonic()))
            assert not client.is_alive(), f"a client never finished: {server.log()[-3000:]}"
        elapsed = time.perf_counter() - started
        # After the swap has had time to happen, the server serves version 2.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if httpx.get(f"{server.url}/health").json()["models"]["classifier"] == "2":
                break
            time.sleep(0.2)
        late = httpx.post(
            f"{server.url}/v1/documents",
            files={"file": (files[0].name, files[0].read_bytes())},
            headers=REVIEWER,
            timeout=60,
        )
    finally:
        server.stop()

    predictions = [p for c in clients for p in c.predictions]
    latencies = sorted(t for c in clients for t in c.latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(  # noqa: T201 - the figures this test exists to report
        f"\nload: {len(latencies)} requests from {CLIENTS} clients in {elapsed:.1f} s = "
        f"{len(latencies) / elapsed:.1f} req/s; latency p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max "
        f"{latencies[-1] * 1000:.0f} ms; promotion after request {promoted_at}; "
        f"{sum(v == '2' for _, v in predictions)} of {len(predictions)} predictions by v2"
    )
    assert len(latencies) == REQUESTS
    assert [u for c in clients for u in c.unexpected] == []
    assert [s for c in clients for s in c.deliberate] == [422] * CLIENTS
    assert late.status_code == 201 and late.json()["model_versions"]["classifier"] == "2"
    assert len(predictions) == CLIENTS * DOCUMENTS_PER_CLIENT
    assert {v for _, v in predictions} <= {"1", "2"}
    for doc_id, version in predictions:
        feedback = store.documents.get_document(doc_id)["feedback"]
        assert feedback["classifier"]["model_version"] == version
        assert feedback["extractor"]["model_version"] == "1"
        assert feedback["classifier"]["committed_at"] is not None
    committed = {v: sum(1 for _, w in predictions if w == v) for v in ("1", "2")}
    for version, n in committed.items():
        assert store.counters.committed_count("classifier", version) == n
    assert_counters_equal_recount(store)
    store.dispose()

"""Hot swap of the default model, and commits racing each other."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selfimprove_assets.api.loading import registry_loader
from selfimprove_assets.api.serving import NoDefaultModel, PredictorProvider
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.store.repository import ModelInfo
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, register


def test_hot_swap_serves_the_new_default_without_failing_requests(make_api: ApiFactory) -> None:
    api = make_api()
    before = api.upload()
    assert before.status_code == 201
    assert before.json()["model_versions"]["classifier"] == "1"

    files = api.models.files[:6]
    statuses: list[int] = []
    versions: list[tuple[str, str]] = []
    swap_done = threading.Event()

    def upload(i: int) -> None:
        if i == 3:
            register(api.store, api.models, "classifier", "2", parent="1")
            swap_done.set()
        response = api.upload(files[i % len(files)])
        statuses.append(response.status_code)
        if response.status_code == 201:
            body = response.json()
            versions.append((body["id"], body["model_versions"]["classifier"]))

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(upload, range(6)))
    assert swap_done.is_set()
    assert statuses == [201] * 6
    assert {v for _, v in versions} <= {"1", "2"}

    after = api.upload(files[1])
    assert after.status_code == 201
    assert after.json()["model_versions"] == {"classifier": "2", "extractor": "1"}
    assert api.client.get("/health").json()["models"]["classifier"] == "2"
    served = api.client.get("/v1/models", headers=REVIEWER).json()["models"]["classifier"]
    assert served["default_version"] == "2" and served["serving_version"] == "2"
    # Each stored prediction records the version that made it.
    for doc_id, version in [*versions, (after.json()["id"], "2")]:
        doc = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
        assert doc["model_versions"]["classifier"] == version


class CountingLoader:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __call__(self, info: ModelInfo) -> ModelPredictor:
        self.calls.append((info.model_type, info.version))
        return self.inner(info)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_provider_checks_at_most_every_interval_and_caches(make_api: ApiFactory) -> None:
    api = make_api()
    loader = CountingLoader(registry_loader(api.settings))
    clock = FakeClock()
    provider = PredictorProvider(api.store, loader, refresh_seconds=2.0, clock=clock)
    assert provider.current().versions == {"classifier": "1", "extractor": "1"}
    assert sorted(loader.calls) == [("classifier", "1"), ("extractor", "1")]

    register(api.store, api.models, "classifier", "2", parent="1")
    clock.now = 1.0  # not due yet: still v1, nothing loaded
    assert provider.current().classifier_version == "1"
    clock.now = 2.5
    assert provider.current().classifier_version == "2"
    assert loader.calls[-1] == ("classifier", "2")
    api.store.models.set_default("classifier", "1", thresholds={})
    clock.now = 5.0
    assert provider.current().classifier_version == "1"
    assert loader.calls.count(("classifier", "1")) == 1  # back to a cached version
    assert provider.swaps == 3


def test_failed_load_keeps_serving_the_old_version(make_api: ApiFactory) -> None:
    api = make_api()
    inner = registry_loader(api.settings)

    def loader(info: ModelInfo) -> ModelPredictor:
        if info.version == "2":
            raise OSError("artifact store unreachable")
        return inner(info)

    provider = PredictorProvider(api.store, loader, refresh_seconds=0)
    assert provider.current().classifier_version == "1"
    register(api.store, api.models, "classifier", "2", parent="1")
    assert provider.current().classifier_version == "1"
    assert provider.last_error is not None and "version 2" in provider.last_error


def test_provider_without_defaults_says_so(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    provider = PredictorProvider(api.store, registry_loader(api.settings), refresh_seconds=0)
    try:
        provider.current()
    except NoDefaultModel as exc:
        assert "train a baseline first" in str(exc)
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("expected NoDefaultModel")


def test_concurrent_double_commit_counts_once(make_api: ApiFactory, store_url: str) -> None:
    api = make_api(store_url)
    ids = []
    for path in api.models.files[:3]:
        body = api.upload(path).json()
        review = {"doc_type": "invoice", "entities": [{"label": "mrn", "text": "1", "page": 0}]}
        api.client.put(f"/v1/documents/{body['id']}/review", json=review, headers=REVIEWER)
        ids.append(body["id"])

    barrier = threading.Barrier(8)

    def commit(i: int) -> dict[str, Any]:
        # Overlapping batches in opposite orders: the classic deadlock shape on PostgreSQL.
        batch = ids if i % 2 else ids[::-1]
        barrier.wait()
        response = api.client.post("/v1/commits", json={"document_ids": batch}, headers=REVIEWER)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(commit, range(8)))
    assert sum(r["committed"] for r in results) == 3
    assert sum(r["already_committed"] for r in results) == 8 * 3 - 3
    for model_type in ("classifier", "extractor"):
        counters = api.store.counters.live_counters(model_type, "1")
        assert counters == api.store.counters.recount(model_type, "1")
    assert api.store.counters.live_counters("classifier", "1")["doc_type"]["committed"] == 3
    live = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    assert live["classifier"]["live_accuracy"]["documents"] == 3
    assert live["extractor"]["live_accuracy"]["documents"] == 3

"""The MLflow registry is unreachable while a version is promoted.

The registry is a real MLflow HTTP endpoint on a loopback port nothing listens on (retries off,
so the client fails in milliseconds instead of backing off for minutes). ``deploy_version`` is
what the champion asset runs; the client's view is the API the reviewers use.
(``defs/test_loop_e2e.py`` covers the other half: a disagreement the check reports, repaired by
running ``deploy_version`` again.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mlflow import MlflowClient

from selfimprove_assets.lib.deployment import champion_version, deploy_version, registry_agrees
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, TinyModels, register
from selfimprove_assets_tests.reliability.live_server import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(tiny_models: TinyModels) -> Iterator[MlflowClient]:
    """The real registry; ``champion`` goes back to version 1 afterwards (shared by the session)."""
    client = MlflowClient(tracking_uri=tiny_models.tracking_uri)
    yield client
    client.set_registered_model_alias(tiny_models.registry_names["classifier"], "champion", "1")


def _promote(store, client: MlflowClient, accuracy: float = 0.9, **options: Any):  # noqa: ANN001, ANN202 - test helper
    return deploy_version(
        store,
        client,
        model_type="classifier",
        version="2",
        field_accuracy={"doc_type": accuracy},
        metrics={},
        margin=0.05,
        mlflow_run_id=None,
        parent_version="1",
        state=RetrainState.COMPLETED,
        **options,
    )


def _failed_promotion(
    make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, MlflowClient]:
    """An API serving classifier v1, v2 registered, and a promotion of v2 that failed because
    the registry was unreachable. Returns the API and the unreachable client."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    api = make_api()
    register(api.store, api.models, "classifier", "2", parent="1", make_default=False)
    assert api.upload().json()["model_versions"]["classifier"] == "1"
    unreachable = MlflowClient(tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception):  # noqa: B017 - whatever the MLflow client raises
        _promote(api.store, unreachable)
    return api, unreachable


def test_unreachable_registry_promotes_nothing_the_client_can_see(
    make_api: ApiFactory,
    registry: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, _ = _failed_promotion(make_api, monkeypatch)

    # Nothing half-promoted: table, registry and the API all still say version 1.
    assert champion_version(registry, "classifier") == "1"
    assert registry_agrees(api.store, registry, "classifier")[0]
    models = api.client.get("/v1/models", headers=REVIEWER).json()["models"]["classifier"]
    assert models["default_version"] == "1" and models["serving_version"] == "1"
    assert api.upload(api.models.files[1]).json()["model_versions"]["classifier"] == "1"

    # The registry is back: the re-run promotes, and clients see it.
    _promote(api.store, registry)
    assert registry_agrees(api.store, registry, "classifier")[0]
    assert api.upload(api.models.files[2]).json()["model_versions"]["classifier"] == "2"


def test_unreachable_registry_is_reported_and_a_rerun_repairs(
    make_api: ApiFactory,
    registry: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever order the two writes take, the check tells the truth and a re-run converges."""
    api, unreachable = _failed_promotion(make_api, monkeypatch)
    table = api.store.models.get_default("classifier")
    assert table is not None
    agrees, message = registry_agrees(api.store, registry, "classifier")
    assert agrees == (table.version == champion_version(registry, "classifier")), message
    # While the registry itself is down the check must not pass.
    assert not registry_agrees(api.store, unreachable, "classifier")[0]

    _promote(api.store, registry)
    assert registry_agrees(api.store, registry, "classifier") == (
        True,
        "model table and registry agree on classifier version 2",
    )
    served = api.client.get("/v1/models", headers=REVIEWER).json()["models"]["classifier"]
    assert served["default_version"] == "2"
    assert api.upload().json()["model_versions"]["classifier"] == "2"


def test_a_quality_target_floors_the_new_thresholds(
    make_api: ApiFactory, registry: MlflowClient
) -> None:
    """A team's target (``threshold_floor``) keeps a weak default's thresholds above its own
    figures, so the sensor goes on collecting corrections into retrains until it is reached."""
    api = make_api()
    register(api.store, api.models, "classifier", "2", parent="1", make_default=False)
    info = _promote(api.store, registry, accuracy=0.6, floor=0.9)
    assert info.thresholds == {"doc_type": 0.9}
    assert _promote(api.store, registry).thresholds == {"doc_type": 0.85}  # 0.9 - 0.05

"""The models' names in ``GET /v1/models`` and the admin rollback's champion order."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from selfimprove_assets.api.admin import rollback
from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.lib.deployment import champion_version
from selfimprove_assets.lib.loop.cycle import VERSION_NAME_KEY
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, register
from selfimprove_assets_tests.reliability.live_server import free_port


def test_models_show_the_attempt_name_of_the_default(make_api: ApiFactory) -> None:
    api = make_api()
    register(api.store, api.models, "classifier", "2", parent="1", make_default=False)
    api.store.models.set_default(
        "classifier",
        "2",
        thresholds={"doc_type": 0.8},
        baseline_metrics={VERSION_NAME_KEY: "v2.1"},
    )
    models = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    assert models["classifier"]["default_version"] == "2"
    assert models["classifier"]["default_name"] == "v2.1"
    assert models["extractor"]["default_name"] == "v1"  # a baseline is named by its number


def test_rollback_with_the_registry_down_changes_nothing(
    make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registry first: the alias cannot move, so the table does not either (503)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    api = make_api()
    register(api.store, api.models, "classifier", "2", parent="1")
    down = api.settings.replace(mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ApiError) as raised:
        rollback(api.store, down, "classifier", "admin")
    assert raised.value.status_code == 503 and "nothing was rolled back" in raised.value.message
    assert api.store.models.get_default("classifier").version == "2"  # type: ignore[union-attr]
    client = MlflowClient(tracking_uri=api.models.tracking_uri)
    assert champion_version(client, "classifier") == "1"  # untouched

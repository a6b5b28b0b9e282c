"""A V1 that learnt nothing is registered for inspection but never becomes the default."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from mlflow import MlflowClient

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.resources import TrainingJobResource
from selfimprove_assets_tests.loop_env import build_loop_env


def test_a_collapsed_baseline_is_not_made_the_default(tmp_path: Path) -> None:
    env = build_loop_env(tmp_path, n_stream=6)
    before = env.store.models.get_default("classifier")
    assert before is not None
    # learning rate 0: the head stays at its random start and gives every document one type
    frozen = TrainingJobResource(epochs=1, batch_size=8, learning_rate=0.0, max_length=128)
    defs = build_definitions(env.settings, resources={"trainer": frozen})
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=env.instance,
        asset_selection=[dg.AssetKey("classifier_baseline")],
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failures[0].event_specific_data) if failures else ""
    # why, in terms of the data (collapse, rare types or, on sound data, the optimiser) and what
    # to do about it
    assert "no better than a model that learnt nothing" in message
    assert "What to do:" in message
    assert "collapse onto one class" in message or "lower the learning rate" in message
    after = env.store.models.get_default("classifier")
    assert after is not None and after.version == before.version
    client = MlflowClient(tracking_uri=env.settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias("doc-classifier", "champion")
    assert str(champion.version) == before.version
    # the collapsed version exists in the registry, for whoever investigates
    assert len(client.search_model_versions("name='doc-classifier'")) == 2

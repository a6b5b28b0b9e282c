"""The rejection alert sensor on a real Dagster instance, posting to a real local webhook."""

from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.defs.feedback.alerts import (
    ALERT_TAG,
    WEBHOOK_ENV,
    AlertWebhookResource,
    rejection_alert_sensors,
)
from selfimprove_assets_tests.lib.loop.webhook_server import webhook_server


@dg.asset(name="classifier_champion")
def _champion(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """What the champion asset writes on each path (its outcome comes from the run config)."""
    outcome = context.run.tags["outcome"]
    if outcome == "promoted":
        return dg.MaterializeResult(metadata={"outcome": "promoted", "version": "3"})
    rearms = {"waits_for_operator": False, "next_step": "the sensor re-arms v2.1 by itself"}
    return dg.MaterializeResult(
        metadata=(rearms if outcome == "rearms" else {})
        | {
            "outcome": "rejected",
            "version": "1",
            "rejected_candidate": "2",
            "name": "v2",
            "reasons": dg.MetadataValue.json(["production: no significant gain (p=0.31)"]),
            "cycle": "classifier-v1-c1",
            "attempt": 1,
        }
    )


def _tick(instance: dg.DagsterInstance, url: str, cursor: str | None) -> Any:
    defs = dg.Definitions(
        assets=[_champion],
        sensors=rejection_alert_sensors,
        resources={"alerts": AlertWebhookResource(url=url)},
    )
    sensor = defs.get_sensor_def("classifier_rejection_alert")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    )
    return sensor.evaluate_tick(context)


def test_a_rejection_alerts_and_a_promotion_does_not() -> None:
    instance = dg.DagsterInstance.ephemeral()
    with webhook_server() as server:
        promoted = dg.materialize([_champion], instance=instance, tags={"outcome": "promoted"})
        data = _tick(instance, server.url, None)
        assert not data.asset_events and "promoted" in (data.skip_message or "")
        rejected = dg.materialize([_champion], instance=instance, tags={"outcome": "rejected"})
        data = _tick(instance, server.url, data.cursor)
        again = _tick(instance, server.url, data.cursor)
    assert promoted.success and rejected.success
    (observation,) = data.asset_events
    assert isinstance(observation, dg.AssetObservation)
    assert observation.asset_key == dg.AssetKey("classifier_champion")
    assert observation.metadata["alert"].value == "candidate rejected"
    assert observation.metadata["delivery"].value == "webhook answered 204"
    assert "classifier candidate v2 (registry version 2) was rejected" in str(
        observation.description
    )
    (body,) = server.bodies  # the promotion posted nothing, nor did the second tick
    assert body["event"] == "candidate_rejected" and body["run_id"] == rejected.run_id
    assert body["reasons"] == ["production: no significant gain (p=0.31)"]
    assert (body["cycle_id"], body["attempt"], body["default_version"]) == (
        "classifier-v1-c1",
        1,
        "1",
    )
    assert not again.asset_events
    run = instance.get_run_by_id(rejected.run_id)
    assert run is not None and run.tags[ALERT_TAG] == "v2 rejected"


def test_a_rejection_the_loop_rearms_from_does_not_alert() -> None:
    """Only a loop that waits for an operator (its automatic attempts spent) alerts."""
    instance = dg.DagsterInstance.ephemeral()
    with webhook_server() as server:
        dg.materialize([_champion], instance=instance, tags={"outcome": "rearms"})
        data = _tick(instance, server.url, None)
    assert not data.asset_events and not server.bodies
    assert "re-arms the next attempt by itself" in (data.skip_message or "")
    assert "v2.1" in (data.skip_message or "")


def test_without_a_webhook_the_alert_stays_in_dagster() -> None:
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([_champion], instance=instance, tags={"outcome": "rejected"})
    data = _tick(instance, "", None)
    (observation,) = data.asset_events
    assert observation.metadata["delivery"].value == "no webhook configured"


def test_the_location_alerts_and_hides_the_webhook(tmp_path: Path) -> None:
    from selfimprove_assets.definitions import build_definitions
    from selfimprove_assets.lib.settings import load_settings

    url = "https://hooks.example.com/services/T000/B000/secret-token"
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path), WEBHOOK_ENV: url})
    assert settings.alert_webhook_url == url
    assert "secret-token" not in str(settings.public())
    defs = build_definitions(settings)
    names = {s.name for s in defs.get_repository_def().sensor_defs}
    assert {"classifier_rejection_alert", "extractor_rejection_alert"} <= names
    resource = defs.resources["alerts"]  # type: ignore[index]
    assert isinstance(resource, AlertWebhookResource)
    assert "secret-token" not in repr(resource)  # an EnvVar, read when the sensor runs
    quiet = build_definitions(load_settings({"SELFIMPROVE_HOME": str(tmp_path)}))
    assert quiet.resources["alerts"].url == ""  # type: ignore[index]

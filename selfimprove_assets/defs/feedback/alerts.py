"""Alerts: a rejected candidate leaves the loop waiting for an operator, so someone must know.

One asset sensor per model type watches ``<type>_champion``. When a materialization says
``outcome: rejected`` and the loop waits for an operator (``waits_for_operator``: the cycle's
automatic attempts are spent, ``[monitor] max_attempts``; a rejection the loop re-arms from by
itself is only a skip reason) it writes a clear event (a warning in the sensor's log, an
observation of ``<type>_champion`` with the reasons, and the run's ``selfimprove/alert`` tag,
so the asset page and the runs list show it) and, when a webhook URL is configured
(``SELFIMPROVE_ALERT_WEBHOOK_URL``, passed as ``dg.EnvVar`` so the UI never shows it), POSTs the
alert as JSON (``lib.loop.alert``).
"""

import dagster as dg
from pydantic import Field

from selfimprove_assets.lib.loop.alert import WebhookError, post_webhook, rejection_alert
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.types import MODEL_TYPES

ALERT_TAG = "selfimprove/alert"
WEBHOOK_ENV = "SELFIMPROVE_ALERT_WEBHOOK_URL"


class AlertWebhookResource(dg.ConfigurableResource):
    """Where rejection alerts are POSTed (JSON); empty: alerts stay in Dagster."""

    url: str = Field(
        default="",
        description="Webhook URL (a chat channel's incoming webhook, an incident tool); it may "
        f"hold a token, so set it through {WEBHOOK_ENV}.",
    )
    timeout_seconds: float = Field(default=10.0, description="Timeout of one POST.")


def alert_resource(settings: Settings) -> AlertWebhookResource:
    """The configured webhook as an ``EnvVar`` (hidden in the UI), or none."""
    if settings.alert_webhook_url:
        return AlertWebhookResource(url=dg.EnvVar(WEBHOOK_ENV))
    return AlertWebhookResource()


def _text(metadata: dict[str, dg.MetadataValue], key: str, default: str = "") -> str:
    value = metadata.get(key)
    return str(value.value) if value is not None else default


def build_rejection_alert_sensor(model_type: str) -> dg.SensorDefinition:
    @dg.asset_sensor(
        asset_key=dg.AssetKey(f"{model_type}_champion"),
        name=f"{model_type}_rejection_alert",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Alerts when a {model_type} candidate is rejected: a warning, an "
        f"observation of {model_type}_champion and a run tag, plus a POST to the webhook "
        "when one is configured.",
    )
    def _alert(
        context: dg.SensorEvaluationContext,
        asset_event: dg.EventLogEntry,
        alerts: AlertWebhookResource,
    ) -> dg.SensorResult | dg.SkipReason:
        materialization = asset_event.asset_materialization
        metadata = dict(materialization.metadata) if materialization is not None else {}
        if _text(metadata, "outcome") != "rejected":
            return dg.SkipReason(f"{model_type}_champion: {_text(metadata, 'outcome', '?')}")
        if _text(metadata, "waits_for_operator", "True") == "False":
            return dg.SkipReason(
                f"{model_type} candidate {_text(metadata, 'name')} rejected; the loop re-arms "
                f"the next attempt by itself: {_text(metadata, 'next_step')}"
            )
        recorded = metadata.get("reasons")
        reasons = recorded.value if recorded is not None else []
        attempt = _text(metadata, "attempt")
        alert = rejection_alert(
            model_type,
            _text(metadata, "rejected_candidate"),
            _text(metadata, "name"),
            _text(metadata, "version"),
            [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)],
            cycle_id=_text(metadata, "cycle") or None,
            attempt=int(attempt) if attempt.isdigit() else None,
            run_id=asset_event.run_id or None,
        )
        context.log.warning("ALERT %s", alert.text)
        delivered = "no webhook configured"
        if alerts.url:
            try:
                status = post_webhook(alerts.url, alert.body(), timeout=alerts.timeout_seconds)
                delivered = f"webhook answered {status}"
            except WebhookError as exc:
                delivered = f"webhook failed: {exc}"
                context.log.error("rejection alert not delivered: %s", exc)
        if asset_event.run_id:
            context.instance.add_run_tags(
                asset_event.run_id, {ALERT_TAG: f"{alert.name} rejected"[:200]}
            )
        observation = dg.AssetObservation(
            asset_key=f"{model_type}_champion",
            description=alert.text,
            metadata={
                "alert": "candidate rejected",
                "candidate": alert.name,
                "candidate_version": alert.candidate_version,
                "serving_version": alert.default_version,
                "reasons": dg.MetadataValue.json(alert.reasons),
                "delivery": delivered,
            },
        )
        return dg.SensorResult(asset_events=[observation])

    return _alert


rejection_alert_sensors = [build_rejection_alert_sensor(t) for t in MODEL_TYPES]

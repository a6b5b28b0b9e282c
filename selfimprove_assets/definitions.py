"""The Dagster code location: every asset, check, sensor, job and resource of the loop."""

from __future__ import annotations

from typing import Any

import dagster as dg

from selfimprove_assets.defs.curation.assets import retraining_set_assets
from selfimprove_assets.defs.documents.assets import (
    corpus_splits,
    document_pages,
    labeled_corpus,
    source_documents,
)
from selfimprove_assets.defs.evaluation.assets import evaluation_assets
from selfimprove_assets.defs.feedback.alerts import alert_resource, rejection_alert_sensors
from selfimprove_assets.defs.feedback.assets import accuracy_assets
from selfimprove_assets.defs.feedback.checks import feedback_checks
from selfimprove_assets.defs.feedback.sensors import (
    AssetJob,
    baseline_job,
    build_accuracy_sensor,
    build_cancel_sensor,
    build_failure_sensor,
)
from selfimprove_assets.defs.promotion.assets import champion_defs
from selfimprove_assets.defs.resources import default_resources
from selfimprove_assets.defs.stage import MODEL_TYPE_TAG, RETRAINING_STAGES, STAGE
from selfimprove_assets.defs.training.assets import baseline_assets
from selfimprove_assets.defs.training.candidates import candidate_assets
from selfimprove_assets.lib.loop import monitor as monitor_rules
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.types import MODEL_TYPES


def retraining_job(model_type: str) -> AssetJob:
    return dg.define_asset_job(
        name=f"{model_type}_retraining",
        selection=dg.AssetSelection.assets(*[STAGE[s].key(model_type) for s in RETRAINING_STAGES]),
        tags={MODEL_TYPE_TAG: model_type},
        description=f"Curate, fine-tune, evaluate and promote (or reject) a {model_type}.",
    )


def build_definitions(
    settings: Settings | None = None,
    *,
    min_commits: int | None = None,
    min_corrections: int | None = None,
    resources: dict[str, Any] | None = None,
) -> dg.Definitions:
    """The code location, configured by ``settings`` (default: ``load_settings()``, i.e.
    ``selfimprove.toml`` and ``SELFIMPROVE_*`` variables); ``resources`` replaces defaults
    (tests: a tiny trainer).

    ``min_commits`` / ``min_corrections`` override the settings' ``[monitor]`` evidence rules
    (committed documents since deploy; corrections on the fields below threshold, see
    ``lib.monitor.trigger.evaluate_trigger``). The settings in effect, secrets hidden, are the
    location's metadata and the ``rules`` and ``trainer`` resources' config in the UI."""
    settings = settings or load_settings()
    monitor = {"min_commits": min_commits, "min_corrections": min_corrections}
    overrides = {k: v for k, v in monitor.items() if v is not None}
    if overrides:
        settings = settings.with_overrides({"monitor": overrides})
    jobs = {t: retraining_job(t) for t in MODEL_TYPES}
    joins = {t: baseline_job(t) for t in MODEL_TYPES}
    sensors = [
        build_accuracy_sensor(
            t,
            jobs[t],
            joins_job=joins[t],
            min_commits=settings.monitor.min_commits,
            min_corrections=settings.monitor.min_corrections,
            gauntlet=monitor_rules.gauntlet_rule(settings.monitor, settings.promotion.alpha),
            rearm_ratio=settings.monitor.rearm_ratio,
            max_attempts=settings.monitor.max_attempts,
        )
        for t in MODEL_TYPES
    ]
    # every job of the location: re-materializations run as the implicit asset job
    sensors += [build_failure_sensor(), build_cancel_sensor()]
    sensors += rejection_alert_sensors  # a rejected candidate alerts (and its webhook)
    base = dg.Definitions(
        assets=[
            source_documents,
            document_pages,
            labeled_corpus,
            corpus_splits,
            *baseline_assets,
            *accuracy_assets,
            *retraining_set_assets,
            *candidate_assets,
            *evaluation_assets,
        ],
        asset_checks=feedback_checks,
        jobs=[*jobs.values(), *joins.values()],
        sensors=sensors,
        resources=default_resources(settings)
        | {"alerts": alert_resource(settings)}
        | (resources or {}),
        executor=dg.in_process_executor,
        metadata={"settings": dg.MetadataValue.json(settings.public())},
    )
    return dg.Definitions.merge(base, *champion_defs)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

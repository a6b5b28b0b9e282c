"""The vigilant monitor: one sensor per model type over new commits, and the failure path.

A tick reads only counters and the commit cursor (cheap, well inside the 60 s evaluation
limit). It reports the live accuracy as a materialization of ``<type>_accuracy`` (so the asset
page plots it per commit batch) and, when a figure is statistically below its threshold, moves
the retrain state to TRIGGERED with a compare-and-set (``lib.loop.monitor``, ``lib.loop.cycle``)
and requests one retraining run whose run key makes a duplicate impossible.

A model type the data did not need (its baseline materialized ``needed: false``: one document
type, no labeled entities) has no default; its sensor waits until the reviewers' verified data
makes it needed (a second verified type, for the classifier) and then requests its V1: the
baseline, trained from the backbone on the initial training set plus the committed reviews.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from selfimprove_assets.defs.feedback.assets import accuracy_metadata
from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.defs.stage import CYCLE_STAGES, MODEL_TYPE_TAG, STAGE
from selfimprove_assets.lib.defaults import MonitorSettings
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.loop import cycle, monitor
from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY, DataSummary, model_needed
from selfimprove_assets.lib.monitor.power import GauntletPower
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES

TRIGGER_TAG = monitor.SENSOR_TAG
EVIDENCE_TAG = "selfimprove/evidence"
REARM_TAG = "selfimprove/rearm"
JOINS_TAG = "selfimprove/joins"
_MONITOR = MonitorSettings()  # the defaults (lib.defaults)
# What dg.define_asset_job returns; Dagster exports no public name for that class.
AssetJob = Any


def baseline_job(model_type: str) -> AssetJob:
    """V1 of a model type that joins the loop (requested by its accuracy sensor)."""
    return dg.define_asset_job(
        name=f"{model_type}_joins_loop",
        selection=dg.AssetSelection.assets(STAGE["baseline"].key(model_type)),
        tags={MODEL_TYPE_TAG: model_type},
        description=f"Train V1 of the {model_type} once the reviewed data needs one (the corpus "
        "had none to learn: e.g. one document type), from the backbone on the initial "
        "training set plus the committed reviews; register and deploy it.",
    )


def build_accuracy_sensor(
    model_type: str,
    job: AssetJob,
    *,
    joins_job: AssetJob | None = None,
    min_commits: int,  # the evidence rules: [monitor] in the settings (build_definitions)
    min_corrections: int,
    gauntlet: GauntletPower | None = None,
    rearm_ratio: float = _MONITOR.rearm_ratio,
    max_attempts: int = _MONITOR.max_attempts,
    interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """``gauntlet``: wait until the production slice can decide (``lib.monitor.power``);
    ``rearm_ratio`` / ``max_attempts``: the next attempt after a rejection (``lib.loop.monitor``).
    """

    @dg.sensor(
        name=f"{model_type}_accuracy_sensor",
        jobs=[job] if joins_job is None else [job, joins_job],
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Triggers {model_type} retraining when live accuracy is statistically "
        f"below its threshold (after at least {min_commits} committed documents"
        + (
            f" and {min_corrections} corrections on the failing fields)."
            if min_corrections
            else ")"
        )
        + (
            f"; waits until the production slice can detect the gap with power "
            f"{gauntlet.power:g} at alpha {gauntlet.alpha:g}"
            if gauntlet is not None
            else ""
        )
        + f". After a rejection it re-arms the next attempt by itself, up to {max_attempts} "
        "automatic attempts, then waits for an operator.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, store: FeedbackStoreResource
    ) -> dg.SensorResult | dg.SkipReason:
        feedback = store.get()
        cursor = int(context.cursor or 0)
        latest = feedback.counters.max_commit_id()
        if latest <= cursor:
            return dg.SkipReason(f"no new commits since commit {cursor}")
        seen = monitor.observe(
            feedback,
            model_type,
            min_commits=min_commits,
            min_corrections=min_corrections,
            gauntlet=gauntlet,
            rearm_ratio=rearm_ratio,
            max_attempts=max_attempts,
        )
        context.update_cursor(str(latest))
        if seen is None:  # no default yet
            return _join_loop(context, feedback, model_type, joins_job)
        default = seen.default
        observed = dg.AssetMaterialization(
            asset_key=f"{model_type}_accuracy",
            description=f"live figures after commit {latest}",
            metadata=accuracy_metadata(
                model_type, default.version, seen.figures, default.thresholds
            )
            | {"commit_id": latest},
        )
        if not seen.claimed:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(seen.skip_reason), asset_events=[observed]
            )
        context.log.info("triggering %s retraining: %s", model_type, seen.decision.reason)
        tags = {
            MODEL_TYPE_TAG: model_type,
            TRIGGER_TAG: json.dumps(seen.trigger_fields())[:4000],
            "selfimprove/parent_version": default.version,
        }
        if seen.decision.evidence is not None:
            tags[EVIDENCE_TAG] = json.dumps(seen.decision.evidence.to_dict())[:4000]
        if seen.rearm is not None:
            context.log.info("%s: %s", model_type, seen.rearm.reason)
            tags[REARM_TAG] = seen.rearm.next_name
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    job_name=job.name,
                    run_key=f"{model_type}-v{default.version}-commit{latest}",
                    tags=tags,
                )
            ],
            asset_events=[observed],
        )

    return _sensor


def _join_loop(
    context: dg.SensorEvaluationContext,
    feedback: FeedbackStore,
    model_type: str,
    joins_job: AssetJob | None,
) -> dg.SkipReason | dg.SensorResult:
    """No default: request V1 when the baseline found the model not needed and the committed
    reviews now make it needed (``model_needed`` on the initial training data plus reviews)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(f"{model_type}_baseline"))
    materialization = event.asset_materialization if event is not None else None
    metadata = materialization.metadata if materialization is not None else {}
    needed = metadata.get("needed")
    recorded = metadata.get(TRAINING_DATA_KEY)
    initial = DataSummary.from_dict(getattr(recorded, "value", None))
    if joins_job is None or getattr(needed, "value", True) is not False or initial is None:
        return dg.SkipReason(f"no default {model_type} yet")
    reviewed = DataSummary(doc_types=kind_of(model_type).reviewed_doc_types(feedback.curation))
    reason = model_needed(model_type, initial.merged(reviewed))
    if reason:
        return dg.SkipReason(f"{model_type} not needed: {reason}")
    types = sorted(initial.merged(reviewed).doc_types)
    active = context.instance.get_runs(
        dg.RunsFilter(
            job_name=joins_job.name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if active:
        return dg.SkipReason(f"{model_type} V1 is being trained (run {active[0].run_id})")
    # One request per set of types: a V1 that failed is not retried on the same data (the
    # daemon drops a repeated run key; runs executed by hand carry the tag too).
    digest = hashlib.sha256("\n".join(types).encode()).hexdigest()[:16]
    run_key = f"{model_type}-joins-{digest}"
    earlier = context.instance.get_runs(
        dg.RunsFilter(job_name=joins_job.name, tags={"dagster/run_key": run_key}), limit=1
    )
    if earlier:
        return dg.SkipReason(
            f"{model_type} V1 was already requested for the types {types} (run "
            f"{earlier[0].run_id}, {earlier[0].status.value}); it is requested again when "
            "another type appears, or materialize the baseline from the UI"
        )
    context.log.info("%s joins the loop: verified types %s", model_type, types)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                job_name=joins_job.name,
                run_key=run_key,
                run_config={
                    "ops": {f"{model_type}_baseline": {"config": {"include_feedback": True}}}
                },
                tags={MODEL_TYPE_TAG: model_type, JOINS_TAG: json.dumps(types)[:4000]},
            )
        ]
    )


def build_failure_sensor(jobs: list[AssetJob] | None = None) -> dg.SensorDefinition:
    """A failed or canceled run that materialized loop assets leaves the state FAILED and frees
    its rows. ``jobs=None`` watches every job of the code location, the implicit asset job of
    a re-materialization included (runs that touch no loop asset are ignored)."""

    @dg.run_failure_sensor(
        name="retraining_failure_sensor",
        monitored_jobs=jobs,
        monitor_all_code_locations=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Moves the retrain state to FAILED when a run that materializes retraining "
        "assets (the sensor's job, a re-materialization, the CLI) fails or is canceled, and "
        "makes the feedback rows it had claimed available again.",
    )
    def _on_failure(context: dg.RunFailureSensorContext, store: FeedbackStoreResource) -> None:
        run = context.dagster_run
        mark_run_failed(
            store,
            run.tags,
            context.failure_event.message or "",
            asset_keys=run_asset_keys(context.instance, run),
        )

    return _on_failure


def build_cancel_sensor(jobs: list[AssetJob] | None = None) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="retraining_cancel_sensor",
        run_status=dg.DagsterRunStatus.CANCELED,
        monitored_jobs=jobs,
        monitor_all_code_locations=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _on_cancel(context: dg.RunStatusSensorContext, store: FeedbackStoreResource) -> None:
        run = context.dagster_run
        mark_run_failed(
            store,
            run.tags,
            "run canceled",
            asset_keys=run_asset_keys(context.instance, run),
        )

    return _on_cancel


def run_asset_keys(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.AssetKey]:
    """The assets a run materializes: its asset selection, else its execution plan's steps."""
    if run.asset_selection:
        return list(run.asset_selection)
    steps: list[str] = list(run.step_keys_to_execute or [])
    if not steps and run.execution_plan_snapshot_id:
        snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        steps = [step.key for step in snapshot.steps]
    return [dg.AssetKey(step) for step in steps]


def loop_model_types(asset_keys: Iterable[dg.AssetKey]) -> list[str]:
    """Model types whose retrain-cycle assets (``<type>_<stage>``) are among ``asset_keys``."""
    names = {key.to_user_string() for key in asset_keys}
    return [t for t in MODEL_TYPES if any(STAGE[s].key(t) in names for s in CYCLE_STAGES)]


def mark_run_failed(
    store: FeedbackStoreResource,
    tags: Mapping[str, str],
    message: str,
    *,
    asset_keys: Iterable[dg.AssetKey] = (),
) -> None:
    """The model type comes from the run's tag, else from the loop assets it materialized."""
    tagged = tags.get(MODEL_TYPE_TAG)
    model_types = [tagged] if tagged else loop_model_types(asset_keys)
    if not model_types:
        return
    feedback = store.get()
    for model_type in model_types:
        cycle.fail(feedback, model_type, message)

"""Drive the loop in-process the way the Dagster daemon does: evaluate a sensor, run its request.

The demo and the real-document benchmark stream documents through the API and, after each
batch, evaluate the real accuracy sensor against the Dagster instance; a run it requests is
executed in-process with the tags the daemon would give it (sensor name, run key), so the UI
later shows sensor-started runs exactly as in production.
"""

import json
import time
from typing import Any

import dagster as dg

from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.lib.loop import cycle

# In-process runs log to the terminal at INFO: Dagster's DEBUG events (every step start, input
# load and output) would bury the caller's own progress display. The UI keeps them all.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def tick_sensor(
    repo: Any,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    model_type: str,
    cursors: dict[str, str | None],
    run_config: dict[str, Any],
    baseline_config: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Evaluate the real sensor; execute the run it requests, as the daemon would: a retraining
    run, or the V1 of a model type that joins the loop (the classifier of a one-type corpus
    once reviewers verify a second type).

    Returns the run's outcome (None when the sensor requested nothing) and the sensor's word
    on this tick (its skip reason, or which run it requested)."""
    sensor = repo.get_sensor_def(f"{model_type}_accuracy_sensor")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursors.get(model_type),
        definitions=defs,
        resources=defs.resources,  # type: ignore[arg-type]
    )
    data = sensor.evaluate_tick(context)
    cursors[model_type] = data.cursor
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    if not data.run_requests:
        return None, data.skip_message or "no run requested"
    request = data.run_requests[0]
    tags = dict(request.tags) | {"dagster/sensor_name": sensor.name}
    if request.run_key:
        tags["dagster/run_key"] = request.run_key
    said = f"requested {request.job_name or model_type + '_retraining'} ({request.run_key})"
    if request.job_name and request.job_name != f"{model_type}_retraining":
        return run_joining(repo, instance, model_type, request, tags, baseline_config or {}), said
    return run_retraining(repo, instance, defs, model_type, tags, run_config), said


def run_joining(
    repo: Any,
    instance: dg.DagsterInstance,
    model_type: str,
    request: dg.RunRequest,
    tags: dict[str, str],
    baseline_config: dict[str, Any],
) -> dict[str, Any]:
    """Execute the job that trains the V1 of a model type joining the loop."""
    op = f"{model_type}_baseline"
    config = dict(request.run_config["ops"][op]["config"])
    config |= baseline_config.get("ops", {}).get(op, {}).get("config", {})
    started = time.perf_counter()
    result = repo.get_job(str(request.job_name)).execute_in_process(
        instance=instance,
        tags=tags,
        run_config={**QUIET, "ops": {op: {"config": config}}},
        raise_on_error=False,
    )
    return {
        "model_type": model_type,
        "joined": True,
        "tags": {},
        "run_id": result.run_id,
        "success": result.success,
        "promoted": False,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_retraining(
    repo: Any,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    model_type: str,
    tags: dict[str, str],
    run_config: dict[str, Any],
) -> dict[str, Any]:
    """Execute ``<model_type>_retraining`` with ``tags``; a failed run leaves the state FAILED
    and its rows released (``lib.loop.cycle.fail``, what the failure sensor calls under the
    daemon)."""
    job = repo.get_job(f"{model_type}_retraining")
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance, tags=tags, run_config={**QUIET, **run_config}, raise_on_error=False
    )
    if not result.success:
        resource: FeedbackStoreResource = defs.resources["store"]  # type: ignore[index]
        cycle.fail(resource.get(), model_type, "retraining run failed")
    evaluation = None
    if result.success:
        evaluation = result.output_for_node(f"{model_type}_evaluation")
    return {
        "model_type": model_type,
        "trigger": json.loads(tags.get("selfimprove/trigger", "{}")),
        "tags": tags,
        "run_id": result.run_id,
        "success": result.success,
        "promoted": bool(evaluation and evaluation["decision"]["promote"]),
        "decision": evaluation and evaluation["decision"],
        "candidate_version": evaluation and evaluation["candidate_version"],
        "scores": evaluation and evaluation["scores"],
        "seconds": round(time.perf_counter() - started, 1),
    }

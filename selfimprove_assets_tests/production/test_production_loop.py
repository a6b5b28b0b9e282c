"""The loop as deployed: the real daemon retrains, the API swaps, a crashed run cannot jam it.

One deployment per storage backend (the embedded SQLite defaults; PostgreSQL for the feedback
store and for Dagster's own storage with ``deploy/dagster.postgres.yaml``). Each goes through:

1. a crash: the operator re-materializes the extractor's loop assets from the webserver (the
   UI's "Materialize", i.e. ``__ASSET_JOB``, no model-type tag) with a training job whose
   dataset is missing. The run claims the committed rows, then fails; the failure sensor, run
   by the daemon, leaves the state ``FAILED`` and the rows available again. Then the same
   re-materialization with its run worker killed (SIGKILL) while its training job trains: the
   code server reports the run failed, and the failure sensor frees it the same way;
2. the next trigger: drifted documents reviewed and committed through the API move the live
   accuracy below its threshold; the daemon's accuracy sensor requests
   ``extractor_retraining``, the run curates, fine-tunes, evaluates and promotes a candidate;
3. the hot swap: the running API server (same process) serves the new version, and a new
   upload's prediction names it.
"""

from __future__ import annotations

import os
import re
import signal
import time
from typing import Any

import pytest
from mlflow import MlflowClient

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.production.deployment import Backend, World
from selfimprove_assets_tests.production.services import command_line, descendants, wait_for
from selfimprove_assets_tests.production.stack import Stack, StartDeployment
from selfimprove_assets_tests.production.summary import record_excerpt, record_time

pytestmark = pytest.mark.slow

CYCLE_ASSETS = [f"extractor_{s}" for s in ("retraining_set", "candidate", "evaluation", "champion")]
LOOP_TAGS = ("name", "cycle", "attempt", "parent", "parent_name", "decision", "reasons")
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
FIRST_REVIEWS = 6  # fewer than the sensor's min_commits: no trigger before the crash
HOT_SWAP_PROBES = 2  # documents kept back to ask the swapped API for a prediction
RUN_TIMEOUT = 900.0  # a run on a busy two-core machine (one took 6 min at load 12)
SENSOR_TIMEOUT = 180.0


def _finished(stack: Stack, run_id: str, *, timeout: float, what: str) -> dict[str, Any]:
    """The run ``run_id`` once it has ended, whatever its status (``what`` names the wait)."""

    def ended() -> dict[str, Any] | None:
        run = stack.run(run_id)
        return run if run["status"] in TERMINAL else None

    return wait_for(ended, timeout=timeout, what=what, services=stack.services)


def _extractor(stack: Stack) -> dict[str, Any]:
    return dict(stack.models()["extractor"])


def _available_rows(store: FeedbackStore) -> int:
    """Committed extractor rows of V1 that no retrain cycle holds."""
    return len(store.curation.committed_feedback("extractor", "1"))


def _crash_is_released(stack: Stack, store: FeedbackStore, world: World) -> None:
    stack.review(world.stream[:FIRST_REVIEWS])
    available = _available_rows(store)
    assert available == FIRST_REVIEWS
    # the failure sensor starts watching at its first tick: a run that failed before is not its
    wait_for(
        lambda: stack.sensor_ticks("retraining_failure_sensor", limit=1),
        timeout=SENSOR_TIMEOUT,
        what="a first tick of retraining_failure_sensor",
        services=stack.services,
    )
    missing = stack.root / "no-such-dataset.parquet"
    run_id = stack.launch_assets(
        CYCLE_ASSETS,
        {"resources": {"trainer": {"config": {"extra_args": ["--dataset", str(missing)]}}}},
    )
    run = _finished(
        stack, run_id, timeout=RUN_TIMEOUT, what=f"the re-materialization run {run_id} finished"
    )
    assert run["status"] == "FAILURE", run
    assert run["jobName"] == "__ASSET_JOB"
    assert "selfimprove/model_type" not in {t["key"] for t in run["tags"]}
    # the training job failed, on the missing dataset (its error is in the run worker's output)
    log = stack.run_log(run_id)
    failed_steps = [line for line in log if line.startswith("ExecutionStepFailureEvent")]
    assert [line.split(":")[0].split()[1] for line in failed_steps] == ["extractor_candidate"], log
    assert f"--dataset {missing} does not exist" in stack.daemon.log()
    # the rows were claimed by the run (a cycle was opened), then released by the failure sensor
    cycle = store.cycles.current_cycle("extractor")
    assert cycle is not None and cycle.dagster_run_id == run_id, cycle
    state = wait_for(
        lambda: (e := _extractor(stack))["retrain_state"] == "FAILED" and e,
        timeout=SENSOR_TIMEOUT,
        what="retraining_failure_sensor moving the extractor to FAILED",
        services=stack.services,
        describe=lambda: str(_extractor(stack)),
    )
    assert "retraining run failed" in (state["state_reason"] or ""), state
    wait_for(
        lambda: _available_rows(store) == available,
        timeout=SENSOR_TIMEOUT,
        what="the crashed run's rows released",
        services=stack.services,
        describe=lambda: f"{_available_rows(store)} of {available} rows available",
    )
    released = store.cycles.current_cycle("extractor")
    assert released is not None and released.state == "FAILED", released
    assert state["default_version"] == "1"


def _worker_pid(stack: Stack, run_id: str) -> int | None:
    """The run worker's pid, from the run's engine event (what the UI's run log shows)."""
    for line in stack.run_log(run_id):
        found = re.search(r"Started process for run \(pid: (\d+)\)", line)
        if found:
            return int(found.group(1))
    return None


def _training_job(worker: int) -> int | None:
    jobs = [p for p in descendants(worker) if "training_jobs.train" in command_line(p)]
    return jobs[0] if jobs else None


def _killed_run_is_released(stack: Stack, store: FeedbackStore) -> None:
    """A re-materialization whose run worker is killed (SIGKILL, no handler runs) while its
    training job trains: the code server reports the run failed, the failure sensor frees it."""
    available = _available_rows(store)
    # a training job that would run for hours: it is killed long before it could finish
    endless = {"extra_args": ["--epochs", "100000", "--patience", "100000"]}
    run_id = stack.launch_assets(CYCLE_ASSETS, {"resources": {"trainer": {"config": endless}}})
    worker = wait_for(
        lambda: _worker_pid(stack, run_id),
        timeout=RUN_TIMEOUT,
        what=f"the run worker of {run_id} started",
        services=stack.services,
    )
    training = wait_for(
        lambda: _training_job(worker),
        timeout=RUN_TIMEOUT,
        what=f"the training job of run {run_id} started",
        services=stack.services,
        describe=lambda: "\n".join(stack.run_log(run_id)[-10:]),
    )
    assert _available_rows(store) < available  # the run claimed the rows before training
    for pid in (training, worker):
        os.kill(pid, signal.SIGKILL)
    run = _finished(
        stack, run_id, timeout=SENSOR_TIMEOUT, what=f"the killed run {run_id} reported failed"
    )
    assert run["status"] == "FAILURE", run
    killed = f"Run execution process for {run_id} was terminated by signal 9 (SIGKILL)"
    assert any(killed in line for line in stack.run_log(run_id)), stack.run_log(run_id)[-10:]
    wait_for(
        lambda: (
            _extractor(stack)["retrain_state"] == "FAILED" and _available_rows(store) == available
        ),
        timeout=SENSOR_TIMEOUT,
        what="retraining_failure_sensor releasing the killed run's rows",
        services=stack.services,
        describe=lambda: f"{_extractor(stack)}; {_available_rows(store)} of {available} rows",
    )


def _sensor_retrains_and_api_swaps(
    stack: Stack, store: FeedbackStore, world: World, backend_name: str
) -> str:
    api_pid = stack.api.process.pid if stack.api.process else None
    stack.review(world.stream[FIRST_REVIEWS:-HOT_SWAP_PROBES])

    def sensor_run() -> dict[str, Any] | None:
        runs = stack.runs(pipelineName="extractor_retraining")
        done = [r for r in runs if r["status"] in TERMINAL]
        return done[0] if done else None

    run = wait_for(
        sensor_run,
        timeout=SENSOR_TIMEOUT + RUN_TIMEOUT,
        what="extractor_retraining requested by the daemon's sensor and finished",
        services=stack.services,
        describe=lambda: f"runs {stack.runs()}; extractor {_extractor(stack)}",
    )
    assert run["status"] == "SUCCESS", "\n".join(stack.run_log(run["runId"])[-40:])
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/sensor_name"] == "extractor_accuracy_sensor", tags
    assert tags["selfimprove/model_type"] == "extractor"
    assert tags["selfimprove/parent_version"] == "1"
    assert "selfimprove/trigger" in tags
    extractor = _extractor(stack)
    assert extractor["retrain_state"] == "COMPLETED", extractor
    new_version = str(extractor["default_version"])
    assert new_version != "1" and extractor["parent_version"] == "1", extractor
    # the registry names the promoted version and its decision (what the MLflow UI shows)
    registry = MlflowClient(tracking_uri=stack.settings.mlflow_tracking_uri)
    registered = registry.get_model_version(str(extractor["registry_name"]), new_version)
    version_tags = dict(registered.tags)
    assert version_tags["decision"] == "promoted" and version_tags["parent"] == "1", version_tags
    # the promoting cycle holds the new version; the rows the crash released were used again
    cycle = store.cycles.current_cycle("extractor")
    assert cycle is not None and cycle.candidate_version == new_version, cycle
    assert store.counters.count_feedback(archived=True) >= FIRST_REVIEWS
    assert _available_rows(store) == 0  # every committed v1 row went into the promoted cycle
    # hot swap: the API process that served v1 predicts with the new version; it checks the
    # default at most every model_refresh_seconds and loads the new one on the next request
    probe = stack.review(world.stream[-HOT_SWAP_PROBES:])
    assert {p["extractor"] for p in probe.predictions} == {new_version}, probe.predictions
    assert stack.api.process is not None and stack.api.process.pid == api_pid
    assert (stack.health() or {}).get("extractor") == new_version
    assert _extractor(stack)["serving_version"] == new_version
    excerpt = stack.cycle_excerpt(run["runId"])
    shown = {k: v for k, v in version_tags.items() if k in LOOP_TAGS}
    excerpt.append(f"MLflow {registered.name} version {new_version} tags: {shown}")
    record_excerpt(f"{backend_name} daemon-driven cycle", excerpt)
    return new_version


# Generous bounds for a busy two-core machine; each wait inside has its own deadline.
@pytest.mark.timeout(2400)
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_daemon_retrains_after_a_crash_and_the_api_swaps(
    backend: Backend, deploy: StartDeployment, world: World
) -> None:
    name = backend.name
    started = time.monotonic()
    stack = deploy(backend)
    record_time(name, "bootstrap and services up", time.monotonic() - started)
    store = FeedbackStore(stack.settings.database_url)
    try:
        phase = time.monotonic()
        _crash_is_released(stack, store, world)
        record_time(name, "crashed re-materialization released", time.monotonic() - phase)
        phase = time.monotonic()
        _killed_run_is_released(stack, store)
        record_time(name, "killed re-materialization released", time.monotonic() - phase)
        phase = time.monotonic()
        version = _sensor_retrains_and_api_swaps(stack, store, world, name)
        record_time(name, f"daemon cycle to v{version} served", time.monotonic() - phase)
    finally:
        store.dispose()
    record_time(name, "total", time.monotonic() - started)

"""The training job is killed (SIGKILL) in the middle of training a candidate.

A real loop at test size: the tiny models registered in MLflow are the defaults, reviewers
commit corrections through the API, the real accuracy sensor triggers, and the real retraining
job curates a set and launches ``training_jobs/train.py`` through Pipes. As soon as the job has
reported its first epoch, the subprocess is killed with SIGKILL (an OOM kill, a lost node).
The run must fail, the real failure sensor must leave the state FAILED and release the curated
rows, nothing may be registered, and the next trigger must claim the same rows again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from selfimprove_assets.api.app import create_app
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
from selfimprove_assets.defs.resources import TrainingJobResource
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.api.conftest import REVIEWER, TOKENS, TinyModels, register
from selfimprove_assets_tests.loop_env import DETECTION_ALONE
from selfimprove_assets_tests.reliability.invariants import review_body

pytestmark = pytest.mark.slow


def _training_pids(run_id: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"training_jobs.train" not in argv:
            continue
        # the job gets its run in the Pipes context, not on its command line: it is ours when
        # this test process (the in-process run) started it
        if run_id.encode() in argv or _parent(entry) == os.getpid():
            pids.append(int(entry.name))
    return pids


def _parent(entry: Path) -> int | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


class KillAfterFirstEpoch(TrainingJobResource):
    """The real training job, with a watcher that SIGKILLs it once it reported epoch 1."""

    def launch(
        self, context: dg.AssetExecutionContext, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:  # type: ignore[override]
        run_id = context.run.run_id
        instance = context.instance
        killed: dict[str, Any] = {}

        def watch() -> None:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not killed:
                messages = [e.user_message for e in instance.all_logs(run_id)]
                if any("epoch 1:" in m for m in messages):
                    for pid in _training_pids(run_id):
                        os.kill(pid, signal.SIGKILL)
                        killed["pid"] = pid
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            return super().launch(context, *args, **kwargs)
        finally:
            watcher.join(timeout=5)
            context.log.info(f"fault injected: {killed or 'no kill'}")


def _loop(tiny_models: TinyModels, root: Path, trainer: TrainingJobResource) -> dict[str, Any]:
    settings = Settings(
        home=root / "home",
        database_url=f"sqlite:///{root / 'home' / 'selfimprove.db'}",
        mlflow_tracking_uri=tiny_models.tracking_uri,
        mlflow_artifact_root=tiny_models.artifact_root,
        backbone=tiny_models.backbone,
        api_tokens=TOKENS,
    )
    settings.ensure_dirs()
    store = FeedbackStore(settings.database_url)
    register(store, tiny_models, "classifier", "1")
    register(store, tiny_models, "extractor", "1")
    defs = build_definitions(
        settings.with_overrides({"monitor": DETECTION_ALONE}),
        min_commits=5,
        min_corrections=0,
        resources={"trainer": trainer},
    )
    instance = dg.DagsterInstance.ephemeral()
    documents = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
        run_config={
            "ops": {
                "source_documents": {"config": {"corpus_dir": str(tiny_models.root / "corpus")}}
            }
        },
    )
    assert documents.success
    app = create_app(settings, store=store, config=ApiConfig(model_refresh_seconds=0))
    with TestClient(app) as client:
        ids = []
        for path in tiny_models.files:
            with path.open("rb") as handle:
                upload = client.post(
                    "/v1/documents", files={"file": (path.name, handle)}, headers=REVIEWER
                )
            assert upload.status_code == 201, upload.text
            doc_id = upload.json()["id"]
            body = review_body(upload.json()["prediction"])
            assert client.put(
                f"/v1/documents/{doc_id}/review", json=body, headers=REVIEWER
            ).is_success
            ids.append(doc_id)
        assert client.post("/v1/commits", json={"document_ids": ids}, headers=REVIEWER).is_success
    return {"defs": defs, "instance": instance, "store": store, "settings": settings}


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> Any:
    sensor = defs.get_repository_def().get_sensor_def("classifier_accuracy_sensor")
    context = dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        resources=defs.resources,  # type: ignore[arg-type]
    )
    return sensor.evaluate_tick(context)


def test_training_killed_mid_epoch_fails_the_run_and_frees_the_rows(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    trainer = KillAfterFirstEpoch(
        epochs=1000, patience=1000, batch_size=4, max_length=64, extra_args=["--threads", "1"]
    )
    loop = _loop(tiny_models, tmp_path, trainer)
    defs, instance, store = loop["defs"], loop["instance"], loop["store"]
    mlflow = MlflowClient(tracking_uri=tiny_models.tracking_uri)
    versions_before = len(mlflow.search_model_versions("name='document-classifier'"))
    available = len(store.curation.curation_rows("classifier", "1"))
    assert available == len(tiny_models.files)

    tick = _tick(defs, instance)
    assert len(tick.run_requests) == 1, tick.skip_message
    tags = dict(tick.run_requests[0].tags)
    job = defs.get_repository_def().get_job("classifier_retraining")
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)

    assert not result.success
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("epoch 1:" in m for m in messages), "training never reached an epoch"
    assert any("fault injected: {'pid'" in m for m in messages), "the job was not killed"
    assert not _training_pids(result.run_id), "a training process outlived the run"
    failed_steps = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed_steps == {"classifier_candidate"}
    # Mid-run, the curated rows were claimed by the cycle.
    assert store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]
    assert len(store.curation.curation_rows("classifier", "1")) < available

    # The real failure sensor, on the real failure event.
    failure_sensor = defs.get_repository_def().get_sensor_def("retraining_failure_sensor")
    context = dg.build_run_status_sensor_context(
        sensor_name="retraining_failure_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=defs.resources,  # type: ignore[arg-type]
    ).for_run_failure()
    failure_sensor(context)  # type: ignore[operator]

    default = store.models.get_default("classifier")
    assert default is not None and default.version == "1"
    assert default.retrain_state == RetrainState.FAILED.value
    assert "retraining run failed" in (default.state_reason or "")
    cycle = store.cycles.current_cycle("classifier")
    assert cycle is not None and cycle.state == RetrainState.FAILED.value
    assert len(store.curation.curation_rows("classifier", "1")) == available  # released
    assert len(mlflow.search_model_versions("name='document-classifier'")) == versions_before

    # The next trigger works and the same rows can be curated again (attempt 2).
    again = _tick(defs, instance)
    assert len(again.run_requests) == 1, again.skip_message
    assert store.models.get_default("classifier").retrain_state == "TRIGGERED"  # type: ignore[union-attr]
    curated = job.execute_in_process(
        instance=instance,
        tags=dict(again.run_requests[0].tags),
        asset_selection=[dg.AssetKey("classifier_retraining_set")],
    )
    assert curated.success
    output = curated.output_for_node("classifier_retraining_set")
    assert output["cycle_id"] == cycle.cycle_id and output["attempt"] == cycle.attempt + 1
    assert len(store.curation.curation_rows("classifier", "1")) < available  # claimed again

"""A finished loop in a persistent Dagster instance, served by the real Dagster webserver.

The end-to-end tests run on an ephemeral instance, which the webserver cannot read. Here the
same small loop (documents, baselines, a reviewed stream, one sensor tick, one promoted
classifier retrain) is written to a SQLite instance under a temporary ``DAGSTER_HOME`` that
uses the project's ``dagster.yaml``, and ``dagster_webserver`` is started against it and the
project's ``workspace.yaml``, exactly as an operator would open the UI after ``selfimprove
demo``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
from selfimprove_assets.defs.resources import TrainingJobResource
from selfimprove_assets.defs.training.assets import SMOKE_BASELINES
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.models.tiny import tiny_backbone_for
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.loop_env import BASELINES, DETECTION_ALONE, LoopEnv

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Promotes whatever the candidate scores: the point here is what the UI shows, not the policy.
LENIENT = {"require_significant_improvement": False, "golden_tolerance": 1.0}


@dataclass(frozen=True)
class LoopSize:
    """How big a loop to run: the test's default is the smallest that still promotes."""

    n_train: int = 36
    n_stream: int = 36
    epochs: int = 4
    retrain: tuple[str, ...] = ("classifier",)


@dataclass
class FinishedLoop:
    """A loop that ran to a promotion, and where its instance and data live.

    ``env.instance`` is closed once the loop has run: from then on only the webserver reads it.
    """

    env: LoopEnv
    dagster_home: Path
    backbone: Path
    runs: dict[str, tuple[str, dict[str, Any]]]  # model type -> (run id, evaluation report)

    @property
    def retrain_run_id(self) -> str:
        return self.runs["classifier"][0]

    @property
    def report(self) -> dict[str, Any]:
        """The classifier's evaluation report (what ``classifier_evaluation`` returned)."""
        return self.runs["classifier"][1]

    @property
    def promoted_version(self) -> str:
        return str(self.report["candidate_version"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_finished_loop(root: Path, size: LoopSize | None = None) -> FinishedLoop:
    """Documents, baselines, a reviewed stream, a sensor tick and a promoted retrain per type.

    The same steps as ``build_loop_env`` in ``loop_env.py``, but every run lands in a persistent
    instance (the project's dagster.yaml, whose storage reads ``DAGSTER_HOME``) so that the
    webserver can show it afterwards.
    """
    dagster_home = root / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        with dg.DagsterInstance.get() as instance:
            return _run_loop(root, dagster_home, instance, size or LoopSize())


def _run_loop(
    root: Path, dagster_home: Path, instance: dg.DagsterInstance, size: LoopSize
) -> FinishedLoop:
    corpus, stream = root / "corpus", root / "stream"
    generate_corpus(corpus, n=size.n_train, seed=0, scenario="baseline", scan_share=0.0)
    generate_corpus(stream, n=size.n_stream, seed=7, scenario="new_vocabulary", scan_share=0.0)
    backbone = tiny_backbone_for([corpus, stream], root / "tiny-backbone")
    settings = load_settings(
        {"SELFIMPROVE_HOME": str(root / "home"), "SELFIMPROVE_BACKBONE": str(backbone)}
    )
    settings.ensure_dirs()
    trainer = TrainingJobResource(
        epochs=size.epochs, batch_size=8, learning_rate=1e-2, max_length=128, warm_start_min_steps=0
    )
    env = LoopEnv(
        settings=settings,
        defs=build_definitions(
            settings.with_overrides({"monitor": DETECTION_ALONE}),
            min_commits=10,
            min_corrections=0,
            resources={"trainer": trainer},
        ),
        instance=instance,
        store=FeedbackStore(settings.database_url),
        stream=stream,
    )
    documents = env.materialize(
        DOCUMENT_ASSET_KEYS, {"ops": {"source_documents": {"config": {"corpus_dir": str(corpus)}}}}
    )
    assert documents.success, "the documents group did not materialize"
    assert env.materialize(BASELINES, SMOKE_BASELINES).success
    stats = env.stream_reviews()
    assert stats["failed"] == 0 and stats["committed"] > 0, stats
    runs = {model_type: _retrain(env, model_type) for model_type in size.retrain}
    return FinishedLoop(env=env, dagster_home=dagster_home, backbone=backbone, runs=runs)


def _retrain(env: LoopEnv, model_type: str) -> tuple[str, dict[str, Any]]:
    """One sensor tick, then the run it requests, executed as the daemon would launch it."""
    sensor = f"{model_type}_accuracy_sensor"
    tick = env.tick(model_type)
    for event in tick.asset_events:  # as the daemon does: the live figures become events
        env.instance.report_runless_asset_event(event)
    assert len(tick.run_requests) == 1, f"{sensor} did not trigger: {tick.skip_message}"
    tags = dict(tick.run_requests[0].tags) | {"dagster/sensor_name": sensor}
    evaluation = f"{model_type}_evaluation"
    result = env.run_retraining(model_type, tags, {"ops": {evaluation: {"config": LENIENT}}})
    assert result.success, f"the {model_type} retraining run failed"
    report: dict[str, Any] = result.output_for_node(evaluation)
    assert report["decision"]["promote"] is True, report["decision"]
    return result.run_id, report


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return int(response.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def dagster_webserver(
    loop: FinishedLoop, log_path: Path, *, timeout: float = 180.0
) -> Iterator[str]:
    """``python -m dagster_webserver`` on a free loopback port; yields its base URL.

    It runs in its own session so that the whole process group (webserver and the code
    location's gRPC server) is ended at teardown.
    """
    port = free_port()
    env = os.environ | {
        "DAGSTER_HOME": str(loop.dagster_home),
        "SELFIMPROVE_HOME": str(loop.env.settings.home),
        "SELFIMPROVE_BACKBONE": str(loop.backbone),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
    command += ["-w", "workspace.yaml"]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(f"{base}/server_info"):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"dagster_webserver exited with {process.returncode}; "
                        f"log:\n{log_path.read_text(errors='replace')[-4000:]}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dagster_webserver did not answer on {base} in {timeout} s")
                time.sleep(0.5)
            yield base
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass

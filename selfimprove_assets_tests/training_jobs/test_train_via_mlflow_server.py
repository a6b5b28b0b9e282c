"""The pod's path through a real MLflow server: ``mlflow server`` with its artifact proxy (as in
docker-compose.yaml), the inputs staged as ``runs:/`` URIs, the job run with an ``http`` tracking
URI and an ``mlflow-artifacts://`` root, the version loaded back over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.training_inputs import (
    stage_training_inputs,
    unreachable_from_a_pod,
)
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary
from training_jobs.train import parse_args, run

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 300  # an upper bound for a loaded machine, not a guess at the start time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("mlflow-server")
    host = f"127.0.0.1:{free_port()}"
    artifact_root = f"mlflow-artifacts://{host}/selfimprove"
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", host.split(":")[1], "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
            "--default-artifact-root", artifact_root,
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://{host}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text())
            time.sleep(0.5)
        yield {"url": url, "artifact_root": artifact_root, "destination": root / "artifacts"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_job_trains_from_uris_and_registers_through_the_proxy(
    server: dict[str, Any], tmp_path: Path
) -> None:
    configure_runtime()
    backbone = save_tiny_backbone(tmp_path / "backbone", vocabulary())
    write_dataset(tmp_path / "train.parquet", make_corpus(n_per_type=3, seed=5))
    url, artifact_root = server["url"], server["artifact_root"]
    assert unreachable_from_a_pod(url, artifact_root) == []
    staged = stage_training_inputs(
        url, artifact_root, dataset=tmp_path / "train.parquet", backbone=str(backbone)
    )
    args = parse_args(
        [
            "--model-type", "extractor", "--dataset", staged.dataset_uri,
            "--backbone", staged.backbone_uri, "--tracking-uri", url,
            "--artifact-root", artifact_root, "--epochs", "1", "--max-steps", "2",
            "--min-steps", "0", "--batch-size", "4", "--max-length", "32", "--stride", "8",
            "--no-progress", "true", "--device", "cpu",
        ]
    )  # fmt: skip
    result = run(args)
    assert (result["registered_name"], result["version"]) == ("entity-extractor", "1")

    registry = ModelRegistry(url, artifact_root=artifact_root)
    experiment = registry.client.get_experiment_by_name("selfimprove-extractor")
    assert experiment is not None
    assert experiment.artifact_location == f"{artifact_root}/selfimprove-extractor"
    # the server holds every artifact: the inputs and the registered bundle
    destination: Path = server["destination"]
    assert (destination / "selfimprove" / "selfimprove-training-inputs").is_dir()
    assert any((destination / "selfimprove" / "selfimprove-extractor").rglob("*.safetensors"))
    version, bundle = registry.load_bundle(result["model_uri"], backbone=str(backbone))
    assert str(version.version) == "1" and bundle.spec.labels[0] == "O"

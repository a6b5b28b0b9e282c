"""The training job end to end: standalone subprocess (V1), then a warm-started V2 in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets.lib.models.names import CHAMPION
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary
from training_jobs.train import parse_args, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configure_runtime()
    root = tmp_path_factory.mktemp("job")
    save_tiny_backbone(root / "backbone", vocabulary())
    write_dataset(root / "v1.parquet", make_corpus(n_per_type=5, seed=1))
    write_dataset(root / "v2.parquet", make_corpus(n_per_type=4, seed=2, extra_label="ref"))
    return root


def _common(root: Path) -> list[str]:
    return [
        "--model-type", "extractor",
        "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifact-root", str(root / "artifacts"),
        "--backbone", str(root / "backbone"),
        "--epochs", "3", "--min-steps", "0", "--lr", "2e-2", "--batch-size", "4",
        "--max-length", "32", "--stride", "8", "--no-progress", "true",
    ]  # fmt: skip


def test_standalone_subprocess_then_warm_start(workdir: Path) -> None:
    out = workdir / "v1.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "training_jobs.train", *_common(workdir),
         "--dataset", str(workdir / "v1.parquet"), "--output-json", str(out), "--cycle", "1"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    v1 = json.loads(out.read_text())
    assert json.loads(proc.stdout) == v1
    assert (v1["registered_name"], v1["version"], v1["parent_version"]) == (
        "entity-extractor",
        "1",
        None,
    )
    assert {"val_micro_f1", "val_loss"} <= set(v1["metrics"]) and v1["n_val"] > 0
    assert v1["artifact_bytes"] < 2_000_000
    assert not (workdir / "mlruns").exists(), "nothing lands relative to the working directory"

    registry = ModelRegistry(f"sqlite:///{workdir / 'mlflow.db'}")
    version = registry.get_version("entity-extractor", "1")
    assert version.tags["cycle"] == "1" and version.tags["dataset_hash"] == v1["dataset_hash"]
    assert registry.get_version_by_alias("entity-extractor", CHAMPION) is None
    mlrun = registry.client.get_run(v1["run_id"])
    assert mlrun.data.params["dataset_rows"] == "15" and mlrun.info.status == "FINISHED"
    assert "val_loss" in mlrun.data.metrics
    registry.set_alias("entity-extractor", CHAMPION, "1")

    args = parse_args(
        [*_common(workdir), "--dataset", str(workdir / "v2.parquet"),
         "--base", "models:/entity-extractor@champion", "--cycle", "2", "--dagster-run-id", "r-1"]
    )  # fmt: skip
    v2 = run(args)
    assert (v2["version"], v2["parent_version"]) == ("2", "1")
    assert v2["new_labels"] == ["B-ref", "I-ref"]
    tags = registry.get_version("entity-extractor", "2").tags
    assert tags["parent_version"] == "1" and tags["dagster_run_id"] == "r-1"
    assert str(registry.get_version_by_alias("entity-extractor", CHAMPION).version) == "1"  # type: ignore[union-attr]


def test_bad_arguments_fail_clearly(workdir: Path) -> None:
    with pytest.raises(SystemExit):
        parse_args([*_common(workdir), "--dataset", str(workdir / "missing.parquet")])
    args = parse_args([*_common(workdir), "--dataset", str(workdir / "v1.parquet"),
                       "--base", "models:/entity-extractor@nope"])  # fmt: skip
    with pytest.raises(LookupError, match="nope"):
        run(args)

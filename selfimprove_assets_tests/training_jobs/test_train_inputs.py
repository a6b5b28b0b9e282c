"""The training job fed the way a Kubernetes pod is: dataset and backbone as MLflow artifact URIs
(a real local MLflow store: SQLite tracking, local artifact root), and its --device argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.training_inputs import stage_training_inputs
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary
from training_jobs.train import parse_args, run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    configure_runtime()
    root = tmp_path_factory.mktemp("inputs")
    backbone = save_tiny_backbone(root / "backbone", vocabulary())
    write_dataset(root / "train.parquet", make_corpus(n_per_type=3, seed=4))
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    artifact_root = str(root / "artifacts")
    staged = stage_training_inputs(
        tracking_uri, artifact_root, dataset=root / "train.parquet", backbone=str(backbone)
    )
    return {"tracking_uri": tracking_uri, "artifact_root": artifact_root, "staged": staged}


def _args(store: dict[str, Any], *extra: str) -> list[str]:
    staged = store["staged"]
    return [
        "--model-type", "extractor",
        "--dataset", staged.dataset_uri,
        "--backbone", staged.backbone_uri,
        "--tracking-uri", store["tracking_uri"],
        "--artifact-root", store["artifact_root"],
        "--epochs", "1", "--max-steps", "2", "--min-steps", "0", "--batch-size", "4",
        "--max-length", "32", "--stride", "8", "--no-progress", "true",
        *extra,
    ]  # fmt: skip


def test_job_downloads_artifact_uris_and_trains(store: dict[str, Any]) -> None:
    staged = store["staged"]
    assert staged.dataset_uri.startswith("runs:/") and staged.backbone_uri.startswith("runs:/")
    args = parse_args(_args(store, "--device", "cpu"))  # a URI needs no local file
    result = run(args)
    assert result["version"] == "1" and result["n_train"] + result["n_val"] == 9
    assert result["device"] == "cpu"
    assert result["arguments"]["dataset"] == staged.dataset_uri  # the URIs, not the temp copies
    params = ModelRegistry(store["tracking_uri"]).client.get_run(result["run_id"]).data.params
    assert params["dataset"] == staged.dataset_uri
    assert params["backbone"] == staged.backbone_uri
    assert params["resolved_device"] == "cpu"
    assert params["dataset_rows"] == "9"
    client = ModelRegistry(store["tracking_uri"]).client
    calibration = {a.path for a in client.list_artifacts(result["run_id"], "calibration")}
    assert calibration == {"calibration/report.json", "calibration/reliability.png"}
    metrics = client.get_run(result["run_id"]).data.metrics
    assert "final_val_ece" in metrics


def test_a_local_dataset_that_is_missing_is_still_refused(store: dict[str, Any]) -> None:
    argv = _args(store)
    argv[argv.index("--dataset") + 1] = "/nonexistent/train.parquet"
    with pytest.raises(SystemExit):
        parse_args(argv)


@pytest.mark.no_cuda
def test_asking_for_cuda_without_one_fails_the_run_clearly(store: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        run(parse_args(_args(store, "--device", "cuda")))
    registry = ModelRegistry(store["tracking_uri"])
    runs = registry.client.search_runs(
        [registry.experiment_id("extractor")], order_by=["attributes.start_time DESC"]
    )
    assert runs[0].info.status == "FAILED"


def test_a_uri_artifact_root_names_the_experiments_as_given(tmp_path: Path) -> None:
    # A pod's store: the registry must keep "scheme://" (Path() would fold it to a local path).
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for root in ("s3://bucket/mlflow", "mlflow-artifacts://mlflow:5000/selfimprove"):
        registry = ModelRegistry(tracking_uri, artifact_root=root, experiment_prefix=root[:2])
        experiment = registry.client.get_experiment(registry.experiment_id("extractor"))
        assert experiment.artifact_location == f"{root}/{root[:2]}-extractor"
    assert not list(tmp_path.glob("*:*")) and not list(Path.cwd().glob("*:"))

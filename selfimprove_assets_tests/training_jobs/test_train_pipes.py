"""The training job launched by Dagster Pipes reports epochs and a materialization."""

import sys
from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary

REPO = Path(__file__).resolve().parents[2]


def test_pipes_reports_epoch_metrics_and_materialization(tmp_path: Path) -> None:
    configure_runtime()
    save_tiny_backbone(tmp_path / "backbone", vocabulary())
    write_dataset(tmp_path / "data.parquet", make_corpus(n_per_type=4, seed=4))
    messages: list[Any] = []
    command = [
        sys.executable, "-m", "training_jobs.train", "--model-type", "classifier",
        "--dataset", str(tmp_path / "data.parquet"),
        "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifact-root", str(tmp_path / "artifacts"), "--backbone", str(tmp_path / "backbone"),
        "--epochs", "2", "--min-steps", "0", "--lr", "2e-2", "--max-length", "32", "--stride", "8",
        "--no-progress", "true",
    ]  # fmt: skip

    @dg.asset
    def classifier_candidate(
        context: dg.AssetExecutionContext, pipes: dg.PipesSubprocessClient
    ) -> dg.MaterializeResult:
        invocation = pipes.run(
            command=command, context=context, extras={"cycle": "1"}, env={"PYTHONPATH": str(REPO)}
        )
        messages.extend(invocation.get_custom_messages())
        return invocation.get_materialize_result()

    result = dg.materialize(
        [classifier_candidate], resources={"pipes": dg.PipesSubprocessClient(cwd=str(tmp_path))}
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("classifier_candidate")
    metadata = materialization.metadata
    assert metadata["registered_name"].value == "doc-classifier"
    assert metadata["version"].value == "1"
    assert (
        isinstance(metadata["metrics"].value, dict) and "val_accuracy" in metadata["metrics"].value
    )
    # epoch 0 is the validation loss before the first update, then one message per epoch
    assert [(m["kind"], m["epoch"]) for m in messages] == [
        ("epoch_metrics", 0.0),
        ("epoch_metrics", 1.0),
        ("epoch_metrics", 2.0),
    ]
    assert "val_accuracy" in messages[-1]

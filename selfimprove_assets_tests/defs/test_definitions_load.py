from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from selfimprove_assets.definitions import build_definitions, defs
from selfimprove_assets.defs.resources import BACKBONE_BASE, TrainingJobResource, TrainingRequest
from selfimprove_assets.lib.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_and_resources_build(tmp_path: Path) -> None:
    loaded = defs()
    assert isinstance(loaded, dg.Definitions)
    repo = build_definitions(
        load_settings({"SELFIMPROVE_HOME": str(tmp_path)})
    ).get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    for expected in (
        "source_documents",
        "document_pages",
        "labeled_corpus",
        "golden_test_set",
        "initial_training_set",
        "classifier_baseline",
        "extractor_baseline",
    ):
        assert expected in keys
    # the resources really build and connect (validation alone passes with unset env vars)
    resources = build_definitions(load_settings({"SELFIMPROVE_HOME": str(tmp_path)})).resources
    assert resources is not None
    assert set(resources) == {"home", "store", "mlflow", "trainer", "rules", "alerts"}
    assert resources["store"].get().documents.count_documents() == 0
    assert resources["mlflow"].client().search_registered_models() is not None
    assert resources["home"].settings.home == tmp_path.resolve()


@pytest.mark.slow
def test_dagster_definitions_validate(tmp_path: Path) -> None:
    env = {"SELFIMPROVE_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env | {"HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_trainer_epochs_per_model_type_and_start() -> None:
    def request(model_type: str, base: str) -> TrainingRequest:
        return TrainingRequest(model_type, Path("d.parquet"), base, "sqlite://", "/a", "/b")

    trainer = TrainingJobResource(epochs=15, warm_start_epochs=5, classifier_epochs=6)
    assert trainer.epochs_for(request("extractor", BACKBONE_BASE)) == 15
    assert trainer.epochs_for(request("classifier", BACKBONE_BASE)) == 6
    assert trainer.epochs_for(request("extractor", "models:/entity-extractor/1")) == 5
    assert trainer.epochs_for(request("classifier", "models:/doc-classifier/1")) == 5
    plain = TrainingJobResource(epochs=4, warm_start_epochs=None)
    assert plain.epochs_for(request("classifier", "models:/doc-classifier/1")) == 4

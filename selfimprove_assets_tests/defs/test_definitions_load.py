from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from selfimprove_assets.definitions import build_definitions, defs
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
    assert set(resources) == {"home", "store", "mlflow", "trainer"}
    assert resources["store"].get().count_documents() == 0
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

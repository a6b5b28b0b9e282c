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
    assert Path(resources["home"].home) == tmp_path.resolve()


def test_overrides_given_to_build_definitions_reach_the_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings are resolved once and passed down: no resource re-reads the environment
    or the file, so a value the environment does not hold still reaches every consumer."""
    monkeypatch.setenv("SELFIMPROVE_CURATION_REPLAY_SHARE", "0.4")  # what a re-read would see
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path)}).with_overrides(
        {
            "curation": {"replay_share": 0.1, "holdout_fraction": 0.5},
            "corpus": {"test_fraction": 0.3},
            "training": {"epochs": 2, "warm_start_min_steps": 7},
            "promotion": {"alpha": 0.01},
        }
    )
    resources = build_definitions(settings).resources or {}
    rules = resources["rules"]
    assert rules.curation_settings().replay_share == 0.1
    assert rules.curation_settings().holdout_fraction == 0.5
    assert rules.corpus_settings().test_fraction == 0.3
    assert rules.promotion_settings().alpha == 0.01
    trainer = resources["trainer"]
    assert trainer.training_settings() == settings.training
    warm = TrainingRequest("extractor", Path("d.parquet"), "models:/x/1", "sqlite://", "/a", "/b")
    recipe = trainer.recipe_for(warm)
    assert (recipe["epochs"], recipe["min_steps"], recipe["full_finetune"]) == (2, 7, False)


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


def test_the_curation_assets_run_the_one_curation_default(tmp_path: Path) -> None:
    """The retraining-set asset curates with the [curation] settings in effect (the values the
    demo and the loop tests run: replay 0.3, holdout 0.25, bucket rates 1.0/0.7/0.4, one correct
    row per corrected row); a launchpad field set for a run wins over them."""
    from selfimprove_assets.defs.curation.assets import RetrainingSetConfig, _lib_config

    resources = build_definitions(load_settings({"SELFIMPROVE_HOME": str(tmp_path)})).resources
    curation = (resources or {})["rules"].curation_settings()
    for model_type in ("classifier", "extractor"):
        config = _lib_config(model_type, RetrainingSetConfig(), curation)
        assert (config.replay_share, config.holdout_fraction) == (0.3, 0.25)
        assert config.non_corrected_sample_ratio == 1.0
    extractor = _lib_config("extractor", RetrainingSetConfig(), curation)
    assert dict(extractor.bucket_rates) == {"low": 1.0, "medium": 0.7, "high": 0.4}
    retry = RetrainingSetConfig(non_corrected_sample_ratio=0.5)
    assert _lib_config("classifier", retry, curation).non_corrected_sample_ratio == 0.5
    assert all(f.default is None for f in RetrainingSetConfig.model_fields.values())

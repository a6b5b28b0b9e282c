"""Shared fixtures: a tiny backbone on disk, a tiny corpus and one MLflow store per session."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.training import TrainConfig, TrainResult, train
from selfimprove_assets.lib.types import TrainingExample
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> str:
    configure_runtime()
    return str(save_tiny_backbone(tmp_path_factory.mktemp("backbone"), vocabulary()))


@pytest.fixture(scope="session")
def corpus() -> list[TrainingExample]:
    return make_corpus(n_per_type=8, seed=0)


@pytest.fixture(scope="session")
def fast_config() -> TrainConfig:
    return TrainConfig(
        epochs=6,
        learning_rate=2e-2,
        batch_size=4,
        max_length=32,
        stride=8,
        lora_dropout=0.0,
        patience=3,
        min_steps=0,
        warmup_steps=0,
        progress=False,
    )


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = str(root / "artifacts")
    ModelRegistry(uri, artifact_root=artifacts).experiment_id("classifier")  # create schema once
    return uri, artifacts


@pytest.fixture(scope="session")
def registry(mlflow_store: tuple[str, str]) -> ModelRegistry:
    return ModelRegistry(mlflow_store[0], artifact_root=mlflow_store[1])


@pytest.fixture(scope="session")
def trained(
    tiny_backbone: str, corpus: list[TrainingExample], fast_config: TrainConfig
) -> dict[str, TrainResult]:
    return {
        model_type: train(model_type, corpus, backbone=tiny_backbone, config=fast_config)
        for model_type in ("classifier", "extractor")
    }


def bundle_files(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*") if p.is_file()
    }


def extractor_spec(backbone: str, **changes: Any) -> ModelSpec:
    """An extractor of one label ``x`` on ``backbone`` (32-token windows, stride 8), with
    ``changes`` to its other fields."""
    base = ModelSpec(
        model_type="extractor",
        labels=["O", "B-x", "I-x"],
        backbone=backbone,
        max_length=32,
        stride=8,
    )
    return replace(base, **changes)

"""Document models: featurizer, LayoutLM classifier/extractor, LoRA training, MLflow registry.

Plain Python (no Dagster). Import from the submodules, e.g.
``from selfimprove_assets.lib.models.training import train``; the names below are the public
surface the Dagster layer, the API and the training job use.
"""

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
from selfimprove_assets.lib.models.classifier import ClassifierResult
from selfimprove_assets.lib.models.dataset import content_hash, read_dataset, write_dataset
from selfimprove_assets.lib.models.featurizer import Featurizer, Window
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.models.registry import (
    CHAMPION,
    REGISTERED_NAMES,
    ModelRegistry,
    RegisteredVersion,
    load_predictor,
    registered_name,
)
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.training import TrainConfig, TrainResult, train

__all__ = [
    "CHAMPION",
    "REGISTERED_NAMES",
    "ClassifierResult",
    "DocumentPredictor",
    "Featurizer",
    "ModelBundle",
    "ModelPredictor",
    "ModelRegistry",
    "ModelSpec",
    "RegisteredVersion",
    "TrainConfig",
    "TrainResult",
    "Window",
    "configure_runtime",
    "content_hash",
    "load_predictor",
    "read_dataset",
    "registered_name",
    "save_tiny_backbone",
    "train",
    "write_dataset",
]

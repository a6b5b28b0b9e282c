"""Load a registered model version for serving, through the models library's registry."""

from __future__ import annotations

from selfimprove_assets.api.serving import Loader
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import ModelInfo


def registry_loader(settings: Settings) -> Loader:
    """A loader reading ``models:/<registry_name>/<version>`` from the configured MLflow."""

    def load(info: ModelInfo) -> ModelPredictor:
        from selfimprove_assets.lib.models.registry import load_predictor

        predictor = load_predictor(
            f"models:/{info.registry_name}/{info.version}", settings.mlflow_tracking_uri
        )
        return predictor

    return load

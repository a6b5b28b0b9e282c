"""The registry's names for the model types, as plain data (no MLflow or torch on load)."""

from __future__ import annotations

from selfimprove_assets.lib.kinds import KINDS
from selfimprove_assets.lib.types import ModelType

REGISTERED_NAMES: dict[str, str] = {k.name: k.registry_name for k in KINDS.values()}
CHAMPION = "champion"


def registered_name(model_type: str | ModelType) -> str:
    return REGISTERED_NAMES[ModelType(model_type).value]


def model_uri(model_type: str | ModelType, version: str) -> str:
    """``models:/<registered name>/<version>``: one registered version of a model type."""
    return f"models:/{registered_name(model_type)}/{version}"

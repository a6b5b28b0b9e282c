"""Document models: featurizer, LayoutLM classifier/extractor, LoRA training, MLflow registry.

Plain Python (no Dagster). Import from the submodules, e.g.
``from selfimprove_assets.lib.models.training import train``. This package loads nothing on
import, so reading a plain rule (``needs``, ``dataset``) does not load torch: only the
modules that build or run a model import torch, transformers and peft.
"""

"""The training recipe: the knobs of a run, the split, the schedule, the optimizer, the loss
weights and which epoch is kept.

The defaults of ``TrainConfig`` are the product's recipe; ``training.train`` runs the loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from selfimprove_assets.lib.defaults import SELECT_ON, TrainingRecipe
from selfimprove_assets.lib.kinds import full_finetune_types, kind_of
from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.backbone import NEW_2D_EMBEDDINGS
from selfimprove_assets.lib.models.channels import CHANNEL_MODULES
from selfimprove_assets.lib.models.layout import GIVEN
from selfimprove_assets.lib.types import OUTSIDE, TrainingExample

# Model types whose V1 is a full fine-tune by default (the trainer resource's default).
FULL_FINETUNE_TYPES: tuple[str, ...] = tuple(full_finetune_types())
VALIDATION_SOURCES = ("validation", "val")
HEAD_MODULES = ("classifier", "pooler", *NEW_2D_EMBEDDINGS, *CHANNEL_MODULES)


class TrainConfig(TrainingRecipe):
    """Knobs of one training run (recorded as MLflow params).

    The knobs an operator sets are inherited from ``lib.defaults.TrainingRecipe`` (``[training]``
    in selfimprove.toml), declared there once with their defaults; the ones below are the run's
    own. The training job receives them as one JSON document. The same knobs run on a GPU
    (``device``) with bf16 autocast; on the CPU nothing changes.
    """

    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    lora_r: int = 8
    lora_alpha: int = 16
    full_finetune: bool = False  # V1 trains every weight (see FULL_FINETUNE_TYPES)
    stride: int = 64
    label_all_subwords: bool = False
    val_fraction: float = 0.15
    min_delta: float = 1e-3  # a gain smaller than this does not reset patience
    seed: int = 42
    log_every: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps (benchmarks, smoke runs)
    progress: bool = True
    # auto, cpu, cuda or cuda:N; None: the settings' device (SELFIMPROVE_DEVICE, see models.device)
    device: str | None = None
    # Input channels of a new V1 (see ``channels``; warm starts keep their parent's): each
    # word's shape class (case, digits, amount, date, trailing colon) and its text line's box,
    # both zero-initialised embeddings added to the tokens'.
    word_shape: bool = False
    line_boxes: bool = False
    # The order a new V1 reads a page's words in: "given" or "xycut" (see ``layout``); warm
    # starts keep their parent's.
    reading_order: str = GIVEN

    def params(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_examples(
    examples: Sequence[TrainingExample], val_fraction: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """Train/validation split. Rows whose ``source`` is ``validation`` are the validation set;
    otherwise a seeded split stratified by document type (types with one document stay in
    training)."""
    marked = [e for e in examples if e.source in VALIDATION_SOURCES]
    if marked:
        return [e for e in examples if e.source not in VALIDATION_SOURCES], marked
    rng = random.Random(seed)
    by_type: dict[str, list[TrainingExample]] = {}
    for example in sorted(examples, key=lambda e: e.document_id):
        by_type.setdefault(example.doc_type, []).append(example)
    train, val = [], []
    for name in sorted(by_type):
        group = by_type[name]
        rng.shuffle(group)
        n_val = min(len(group) - 1, math.ceil(len(group) * val_fraction)) if val_fraction > 0 else 0
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, val


def planned_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """``epochs``, or more when that many epochs make fewer than ``min_steps`` steps (a few
    documents then still get enough updates; early stopping ends the run when it stops
    improving)."""
    if config.min_steps <= 0 or steps_per_epoch <= 0:
        return config.epochs
    return max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """Warm-up length: ``warmup_ratio`` of the run, at least ``warmup_steps`` (never more than
    half the run), so a short run on a few documents does not start at the full rate."""
    ratio = int(total_steps * config.warmup_ratio)
    return max(ratio, min(config.warmup_steps, total_steps // 2))


def is_head_parameter(name: str) -> bool:
    """Parameters that start fresh in every V1: the head, the pooler, the 2-D box embeddings
    and the input channels' embeddings."""
    parts = name.split(".")
    return any(module in parts for module in HEAD_MODULES)


def build_optimizer(
    model: torch.nn.Module, config: TrainConfig, *, full: bool = False
) -> tuple[torch.optim.Optimizer, list[torch.nn.Parameter]]:
    """AdamW over the trainable parameters. Adapters train at ``learning_rate``; in a full
    fine-tune (``full``) the encoder trains at ``full_learning_rate``; the fresh head (and
    trained 2-D embeddings) at ``learning_rate`` x ``head_lr_multiplier`` either way."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise RuntimeError("the model has no trainable parameters")
    head = [p for n, p in named if is_head_parameter(n)]
    body = [p for n, p in named if not is_head_parameter(n)]
    groups: list[dict[str, Any]] = []
    if body:
        rate = config.full_learning_rate if full else config.learning_rate
        groups.append({"params": body, "lr": rate})
    if head:
        groups.append({"params": head, "lr": config.learning_rate * config.head_lr_multiplier})
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    return optimizer, [p for _, p in named]


def loss_weights(bundle: ModelBundle, config: TrainConfig) -> torch.Tensor | None:
    """Per-class weights of the extractor's token loss (``O`` at ``outside_weight``), or None
    for the model's own unweighted loss."""
    if not kind_of(bundle.model_type).entity_level or config.outside_weight == 1.0:
        return None
    weights = torch.ones(len(bundle.spec.labels))
    if OUTSIDE in bundle.spec.label2id:
        weights[bundle.spec.label2id[OUTSIDE]] = config.outside_weight
    return weights


def selection_score(record: dict[str, float], select_on: str) -> tuple[float, float]:
    """Higher is better. ``val_f1``: validation micro-F1, ties broken by the lower loss (a
    model stuck at F1 0 still counts as improving while its loss falls); ``val_loss``: the
    negated loss alone."""
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {SELECT_ON}, got {select_on!r}")
    loss = -record["val_loss"]
    if select_on == "val_loss":
        return (0.0, loss)
    f1 = record.get("val_micro_f1", record.get("val_accuracy", 0.0))
    return (f1, loss)


def is_real_gain(
    score: tuple[float, float], reference: tuple[float, float], config: TrainConfig
) -> bool:
    """Whether ``score`` beats ``reference`` by more than noise (``min_delta``)."""
    if score[0] > reference[0] + config.min_delta:
        return True
    return score[0] >= reference[0] and score[1] > reference[1] + config.min_delta

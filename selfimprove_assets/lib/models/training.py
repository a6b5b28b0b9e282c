"""Fine-tuning either model type: LoRA on a frozen backbone, early stopping, warm start.

A plain torch loop (rather than ``transformers.Trainer``) keeps every step visible: metrics go
to one ``on_metrics(step, dict)`` callback that the training job forwards to MLflow and Dagster
Pipes, and warm start is an explicit "build the child from the parent" step.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from selfimprove_assets.lib.evaluation.metrics import (
    classification_report,
    entity_report,
    flat_metrics,
)
from selfimprove_assets.lib.models.artifacts import ModelBundle, ModelSpec
from selfimprove_assets.lib.models.backbone import NEW_2D_EMBEDDINGS
from selfimprove_assets.lib.models.classifier import document_logits, fit_temperature
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.models.extractor import (
    OUTSIDE,
    bio_labels,
    example_words,
    labels_from_tags,
)
from selfimprove_assets.lib.models.featurizer import IGNORE_INDEX, Window, length_batches
from selfimprove_assets.lib.models.inference import InferenceOptions, classifier_windows
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.types import ModelType, PageWords, TrainingExample

logger = logging.getLogger(__name__)

MetricsCallback = Callable[[int, dict[str, float]], None]
# Model types whose V1 is a full fine-tune by default (the trainer resource's default).
FULL_FINETUNE_TYPES: tuple[str, ...] = (ModelType.EXTRACTOR.value,)
VALIDATION_SOURCES = ("validation", "val")


@dataclass
class TrainConfig:
    """Knobs of one training run (recorded as MLflow params).

    These defaults are the product's recipe: the trainer resource (``TrainingJobResource``)
    and the training job's arguments take theirs from here. Measured on FUNSD (real scans, 25 to
    149 training forms) and the synthetic demo; see the README's "Training recipe".
    """

    epochs: int = 15  # at most (early stopping ends sooner; few documents get min_steps)
    learning_rate: float = 2e-3  # LoRA adapters and the fresh head
    full_learning_rate: float = 2e-4  # the encoder in a full fine-tune (V1 of the extractor)
    batch_size: int = 8
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: int = 20  # at least this many warm-up steps (at most half the run)
    min_steps: int = 150  # more epochs until this many steps; no early stop before them
    max_grad_norm: float = 1.0
    head_lr_multiplier: float = 1.0  # the fresh head (and trained 2-D embeddings) at lr x this
    outside_weight: float = 0.5  # extractor loss weight of the ``O`` class (entities weigh 1)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    full_finetune: bool = False  # V1 trains every weight (see FULL_FINETUNE_TYPES)
    lora_layers: str = "all_linear"  # see artifacts.LORA_LAYERS
    train_2d_embeddings: bool = False  # keep the sinusoidal box embeddings fixed (less overfit)
    max_length: int = 256
    stride: int = 64
    label_all_subwords: bool = False
    val_fraction: float = 0.15
    patience: int = 3
    min_delta: float = 1e-3  # a gain smaller than this does not reset patience
    select_on: str = "val_f1"  # "val_f1" or "val_loss": which validation figure keeps a model
    seed: int = 42
    log_every: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps (benchmarks, smoke runs)
    progress: bool = True

    def params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    bundle: ModelBundle
    metrics: dict[str, float]  # validation metrics of the kept (best) model
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch
    best_epoch: int = 0
    steps: int = 0
    n_train: int = 0
    n_val: int = 0
    new_labels: list[str] = field(default_factory=list)


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


def labels_for(
    model_type: str, examples: Sequence[TrainingExample], parent: ModelBundle | None
) -> list[str]:
    """Class names from the data; a parent's classes keep their positions and new ones follow."""
    if model_type == ModelType.CLASSIFIER.value:
        found = sorted({e.doc_type for e in examples})
    else:
        found = bio_labels(labels_from_tags([e.word_tags for e in examples]))
    if parent is None:
        return found
    old = list(parent.spec.labels)
    return old + [label for label in found if label not in old]


def example_document(example: TrainingExample) -> PageWords:
    words = example_words(example)
    return PageWords(words=words, page_count=max(example.pages, default=0) + 1)


def evaluate_examples(
    predictor: ModelPredictor, examples: Sequence[TrainingExample]
) -> dict[str, float]:
    """Validation metrics through the serving predictor (flat, prefixed ``val_``).

    One predictor serves a whole run: it rebuilds its inference copy only when the weights
    have changed since the last call."""
    if not examples:
        return {}
    docs = [example_document(e) for e in examples]
    if predictor.model_type == ModelType.CLASSIFIER.value:
        results = predictor.classify(docs)
        report = classification_report(
            [e.doc_type for e in examples], [r.doc_type for r in results]
        )
    else:
        report = entity_report([example_truth(e) for e in examples], predictor.extract(docs))
    return flat_metrics(report, prefix="val_")


def _windows(bundle: ModelBundle, examples: Sequence[TrainingExample]) -> list[Window]:
    """Training windows. The classifier trains on what it reads when predicting: each
    document's first ``InferenceOptions.classifier_tokens`` tokens (or every window)."""
    label2id = bundle.spec.label2id
    is_classifier = bundle.model_type == ModelType.CLASSIFIER.value
    windows: list[Window] = []
    for i, example in enumerate(examples):
        windows.extend(
            bundle.featurizer.example_windows(
                example,
                i,
                label2id=None if is_classifier else label2id,
                type2id=label2id if is_classifier else None,
            )
        )
    if is_classifier:
        tokens = InferenceOptions.from_env().classifier_tokens
        windows = classifier_windows(windows, tokens, bundle.featurizer.sep_id)
    return windows


def build_bundle(
    model_type: str,
    labels: list[str],
    config: TrainConfig,
    *,
    backbone: str | None,
    parent: ModelBundle | None,
) -> ModelBundle:
    """The model a run starts from: the parent continued (warm start) or the backbone (V1)."""
    if parent is not None:
        if parent.model_type != model_type:
            raise ValueError(f"parent is a {parent.model_type}, cannot warm-start a {model_type}")
        return parent.child(labels)
    if not backbone:
        raise ValueError("initial training needs a backbone path")
    spec = ModelSpec(
        model_type=model_type,
        labels=labels,
        backbone=backbone,
        max_length=config.max_length,
        stride=config.stride,
        label_all_subwords=config.label_all_subwords,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        full_finetune=config.full_finetune,
        lora_layers=config.lora_layers,
        train_2d_embeddings=config.train_2d_embeddings,
    )
    return ModelBundle.from_backbone(spec)


def _calibrate(predictor: ModelPredictor, val: Sequence[TrainingExample]) -> None:
    """Fit the classifier's temperature on the logits serving will produce (the predictor's
    inference form and input cut), so that the confidence it reports is calibrated there."""
    if predictor.model_type != ModelType.CLASSIFIER.value or not val:
        return
    windows = predictor.classifier_inputs([example_document(e) for e in val])
    logits = document_logits(windows, predictor.window_logits(windows), len(val))
    spec = predictor.bundle.spec
    targets = torch.tensor([spec.label2id[e.doc_type] for e in val])
    spec.temperature = fit_temperature(logits, targets)


SELECT_ON = ("val_loss", "val_f1")
HEAD_MODULES = ("classifier", "pooler", *NEW_2D_EMBEDDINGS)


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
    """Parameters that start fresh in every V1: the head, the pooler, the 2-D box embeddings."""
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
    if bundle.model_type != ModelType.EXTRACTOR.value or config.outside_weight == 1.0:
        return None
    weights = torch.ones(len(bundle.spec.labels))
    if OUTSIDE in bundle.spec.label2id:
        weights[bundle.spec.label2id[OUTSIDE]] = config.outside_weight
    return weights


def training_loss(
    bundle: ModelBundle, batch: dict[str, torch.Tensor], class_weights: torch.Tensor | None
) -> torch.Tensor:
    """The loss one step minimises: the model's own, or class-weighted token cross-entropy."""
    if class_weights is None:
        loss, _ = bundle.loss_and_logits(batch)
        if loss is None:
            raise RuntimeError("the model returned no loss; are the labels missing?")
        return loss
    labels = batch.pop("labels", None)
    if labels is None:
        raise RuntimeError("the batch carries no labels")
    _, logits = bundle.loss_and_logits(batch)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1),
        weight=class_weights.to(logits.device),
        ignore_index=IGNORE_INDEX,
    )


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


def train(
    model_type: str | ModelType,
    examples: Sequence[TrainingExample],
    *,
    backbone: str | None = None,
    parent: ModelBundle | None = None,
    config: TrainConfig | None = None,
    on_metrics: MetricsCallback | None = None,
    validation: Sequence[TrainingExample] | None = None,
) -> TrainResult:
    """Fine-tune a classifier or extractor and return the best model on the validation split.

    With ``parent`` the run continues the parent's adapter, heads and 2-D embeddings (labels
    the parent never saw extend its head); without it, it starts from ``backbone``.
    """
    config = config or TrainConfig()
    model_type = ModelType(model_type).value
    if not examples:
        raise ValueError("no training examples")
    set_seed(config.seed)
    if validation is None:
        train_set, val_set = split_examples(examples, config.val_fraction, config.seed)
    else:
        train_set, val_set = list(examples), list(validation)
    if not train_set:
        raise ValueError("the training split is empty")
    labels = labels_for(model_type, [*train_set, *val_set], parent)
    bundle = build_bundle(model_type, labels, config, backbone=backbone, parent=parent)
    # validation metrics and calibration go through what serving runs (its batching included)
    predictor = ModelPredictor(bundle)
    new_labels = labels[len(parent.spec.labels) :] if parent is not None else []
    train_windows = _windows(bundle, train_set)
    val_windows = _windows(bundle, val_set)
    emit: MetricsCallback = on_metrics or (lambda _step, _metrics: None)
    logger.info(
        "training %s on %d documents (%d windows), validating on %d; %d classes, %s start",
        model_type, len(train_set), len(train_windows), len(val_set), len(labels),
        "warm" if parent is not None else "cold",
    )  # fmt: skip

    optimizer, params = build_optimizer(bundle.model, config, full=bundle.spec.full_finetune)
    steps_per_epoch = math.ceil(len(train_windows) / config.batch_size)
    epochs = planned_epochs(config, steps_per_epoch)
    total_steps = steps_per_epoch * epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, warmup_steps(config, total_steps), max(total_steps, 1)
    )
    class_weights = loss_weights(bundle, config)

    start_loss = bundle.mean_loss(val_windows, config.batch_size) if val_windows else math.inf
    # The kept model is the best *trained* epoch, never the untouched start: a warm start whose
    # epochs all score worse than the parent on validation still yields a real candidate, and
    # the evaluation (golden set + production slice) decides whether it beats the parent.
    best: tuple[float, float] | None = None
    best_loss = math.inf
    best_state = bundle.trainable_state()
    best_epoch, bad_epochs, step = 0, 0, 0
    history: list[dict[str, float]] = []
    if val_windows:
        emit(0, {"val_loss": start_loss, "epoch": 0.0})
    progress = tqdm(total=total_steps, desc=f"train {model_type}", disable=not config.progress)
    for epoch in range(1, epochs + 1):
        bundle.model.train()
        running, seen = 0.0, 0
        for batch_idx in length_batches(train_windows, config.batch_size, seed=config.seed + epoch):
            batch = bundle.featurizer.collate([train_windows[i] for i in batch_idx])
            loss = training_loss(bundle, batch, class_weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running += loss.item() * len(batch_idx)
            seen += len(batch_idx)
            progress.update(1)
            progress.set_postfix(epoch=epoch, loss=f"{loss.item():.4f}")
            if step % config.log_every == 0:
                emit(step, {"train_loss": loss.item(), "lr": float(scheduler.get_last_lr()[0])})
            if config.max_steps is not None and step >= config.max_steps:
                break
        record: dict[str, float] = {"epoch": float(epoch), "train_loss": running / max(seen, 1)}
        if val_windows:
            record["val_loss"] = bundle.mean_loss(val_windows, config.batch_size)
            record.update(evaluate_examples(predictor, val_set))
        history.append(record)
        emit(step, record)
        logger.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in record.items()})
        if not val_windows:
            best_state, best_epoch = bundle.trainable_state(), epoch
        else:
            score = selection_score(record, config.select_on)
            if best is None or score > best:
                # the best epoch is kept, but only a real gain resets the patience
                start = (0.0, -start_loss)
                reference = start if best is None else max(best, start)
                improved = is_real_gain(score, reference, config)
                best, best_loss = score, record["val_loss"]
                best_state, best_epoch = bundle.trainable_state(), epoch
                bad_epochs = 0 if improved else bad_epochs + 1
            else:
                bad_epochs += 1
            if bad_epochs >= config.patience and step >= config.min_steps:
                logger.info("early stopping after epoch %d (best epoch %d)", epoch, best_epoch)
                break
        if config.max_steps is not None and step >= config.max_steps:
            break
    progress.close()

    bundle.load_trainable_state(best_state)
    bundle.model.eval()
    _calibrate(predictor, val_set)
    metrics = evaluate_examples(predictor, val_set)
    if val_windows:
        metrics["val_loss"] = best_loss
    if model_type == ModelType.CLASSIFIER.value:
        metrics["temperature"] = bundle.spec.temperature
    return TrainResult(
        bundle=bundle,
        metrics=metrics,
        history=history,
        best_epoch=best_epoch,
        steps=step,
        n_train=len(train_set),
        n_val=len(val_set),
        new_labels=new_labels,
    )

"""Fine-tuning either model type: LoRA on a frozen backbone, early stopping, warm start.

A plain torch loop (rather than ``transformers.Trainer``) keeps every step visible: metrics go
to one ``on_metrics(step, dict)`` callback that the training job forwards to MLflow and Dagster
Pipes, and warm start is an explicit "build the child from the parent" step. The knobs, the
schedule, the optimizer and the epoch selection are in ``recipe``; this module runs the loop.

The run uses ``models.device.select_device(config.device)``: a CUDA device when there is one
(forward passes in bf16 autocast), the CPU otherwise, with the numbers the CPU always gave. The
trained bundle is handed back on the CPU, where it is saved, registered and warm-started.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from selfimprove_assets.lib.automation.fit import fit_automation
from selfimprove_assets.lib.defaults import AutomationSettings
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.metrics import (
    classification_report,
    entity_report,
    flat_metrics,
)
from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.classifier import document_logits, fit_temperature
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.models.decoding import check_decoder, single_value_labels
from selfimprove_assets.lib.models.device import autocast, select_device, to_device
from selfimprove_assets.lib.models.families import check_same_family
from selfimprove_assets.lib.models.featurizer import IGNORE_INDEX, Window, length_batches
from selfimprove_assets.lib.models.inference import InferenceOptions, classifier_windows
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.recipe import (
    FULL_FINETUNE_TYPES,
    TrainConfig,
    build_optimizer,
    loss_weights,
    planned_epochs,
    set_seed,
    split_examples,
    warmup_steps,
)
from selfimprove_assets.lib.models.selection import EpochSelection
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.tags import example_words
from selfimprove_assets.lib.types import ModelType, PageWords, TrainingExample

__all__ = [
    "FULL_FINETUNE_TYPES",
    "MetricsCallback",
    "TrainConfig",
    "TrainResult",
    "build_bundle",
    "evaluate_examples",
    "example_document",
    "labels_for",
    "split_examples",
    "train",
    "training_loss",
]

logger = logging.getLogger(__name__)

MetricsCallback = Callable[[int, dict[str, float]], None]


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
    device: str = "cpu"  # where it trained


def labels_for(
    model_type: str, examples: Sequence[TrainingExample], parent: ModelBundle | None
) -> list[str]:
    """Class names from the data; a parent's classes keep their positions and new ones follow."""
    found = kind_of(model_type).labels_from(examples)
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
    if not kind_of(predictor.model_type).entity_level:
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
    per_document = not kind_of(bundle.model_type).entity_level
    windows: list[Window] = []
    for i, example in enumerate(examples):
        windows.extend(
            bundle.featurizer.example_windows(
                example,
                i,
                label2id=None if per_document else label2id,
                type2id=label2id if per_document else None,
            )
        )
    if per_document:
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
    """The model a run starts from: the parent continued (warm start, with the parent's
    decoding and input channels) or the backbone (V1, with ``config``'s)."""
    if parent is not None:
        if parent.model_type != model_type:
            raise ValueError(f"parent is a {parent.model_type}, cannot warm-start a {model_type}")
        if backbone:
            check_same_family(parent.spec.family, backbone)
        return parent.child(labels)
    if not backbone:
        raise ValueError("initial training needs a backbone path")
    entity_level = kind_of(model_type).entity_level
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
        decoder=check_decoder(config.decoder),
        single_value_labels=[] if config.single_value_labels and entity_level else None,
        word_shape=config.word_shape,
        line_boxes=config.line_boxes,
        reading_order=config.reading_order,
    )
    return ModelBundle.from_backbone(spec)


def _calibrate(predictor: ModelPredictor, val: Sequence[TrainingExample]) -> None:
    """Fit the classifier's temperature on the logits serving will produce (the predictor's
    inference form and input cut), so that the confidence it reports is calibrated there."""
    if not kind_of(predictor.model_type).calibrated or not val:
        return
    windows = predictor.classifier_inputs([example_document(e) for e in val])
    logits = document_logits(windows, predictor.window_logits(windows), len(val))
    spec = predictor.bundle.spec
    targets = torch.tensor([spec.label2id[e.doc_type] for e in val])
    spec.temperature = fit_temperature(logits, targets)


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


def train(
    model_type: str | ModelType,
    examples: Sequence[TrainingExample],
    *,
    backbone: str | None = None,
    parent: ModelBundle | None = None,
    config: TrainConfig | None = None,
    on_metrics: MetricsCallback | None = None,
    validation: Sequence[TrainingExample] | None = None,
    automation: AutomationSettings | None = None,
) -> TrainResult:
    """Fine-tune a classifier or extractor and return the best model on the validation split.

    With ``parent`` the run continues the parent's adapter, heads and 2-D embeddings (labels
    the parent never saw extend its head); without it, it starts from ``backbone``. After the
    final model is chosen its straight-through rules (calibrator, cut-offs at ``automation``'s
    target) are fitted on the validation split (``lib.automation.fit``).
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
    device = select_device(config.device)
    bundle = build_bundle(model_type, labels, config, backbone=backbone, parent=parent)
    if bundle.spec.single_value_labels is not None:  # relearnt from this run's data
        bundle.spec.single_value_labels = single_value_labels(
            [*train_set, *val_set], prior=bundle.spec.single_value_labels
        )
    bundle.model.to(device)
    # validation metrics and calibration go through what serving runs (its batching included)
    predictor = ModelPredictor(bundle, device=device)
    new_labels = labels[len(parent.spec.labels) :] if parent is not None else []
    train_windows = _windows(bundle, train_set)
    val_windows = _windows(bundle, val_set)
    emit: MetricsCallback = on_metrics or (lambda _step, _metrics: None)
    logger.info(
        "training %s on %d documents (%d windows), validating on %d; %d classes, %s start, on %s",
        model_type, len(train_set), len(train_windows), len(val_set), len(labels),
        "warm" if parent is not None else "cold", device,
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
    selection = EpochSelection(config, start_loss, validating=bool(val_windows))
    best_state = bundle.trainable_state()
    step = 0
    history: list[dict[str, float]] = []
    if val_windows:
        emit(0, {"val_loss": start_loss, "epoch": 0.0})
    progress = tqdm(total=total_steps, desc=f"train {model_type}", disable=not config.progress)
    for epoch in range(1, epochs + 1):
        bundle.model.train()
        running, seen = 0.0, 0
        for batch_idx in length_batches(train_windows, config.batch_size, seed=config.seed + epoch):
            batch = to_device(
                bundle.featurizer.collate([train_windows[i] for i in batch_idx]), device
            )
            with autocast(device):
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
        if selection.observe(epoch, record):
            best_state = bundle.trainable_state()
        if selection.should_stop(step):
            logger.info(
                "early stopping after epoch %d (best epoch %d)", epoch, selection.best_epoch
            )
            break
        if config.max_steps is not None and step >= config.max_steps:
            break
    progress.close()

    bundle.load_trainable_state(best_state)
    bundle.model.eval()
    _calibrate(predictor, val_set)
    metrics = evaluate_examples(predictor, val_set)
    metrics.update(fit_automation(predictor, val_set, train_set, automation))
    bundle.model.to("cpu")
    if val_windows:
        metrics["val_loss"] = selection.best_loss
    if kind_of(model_type).calibrated:
        metrics["temperature"] = bundle.spec.temperature
    return TrainResult(
        bundle=bundle,
        metrics=metrics,
        history=history,
        best_epoch=selection.best_epoch,
        steps=step,
        n_train=len(train_set),
        n_val=len(val_set),
        new_labels=new_labels,
        device=str(device),
    )

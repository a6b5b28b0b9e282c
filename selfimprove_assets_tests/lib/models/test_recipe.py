"""The few-document training recipe: schedule, loss weighting, selection on validation F1, and
a full fine-tuned V1 whose warm-started children stay adapter-sized."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfimprove_assets.lib.models.artifacts import ADAPTER_FILE, FULL_FILE, ModelBundle
from selfimprove_assets.lib.models.recipe import (
    TrainConfig,
    build_optimizer,
    is_head_parameter,
    loss_weights,
    planned_epochs,
    selection_score,
    warmup_steps,
)
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.training import train, training_loss
from selfimprove_assets.lib.types import TrainingExample
from selfimprove_assets_tests.lib.models.conftest import extractor_spec
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus


def test_small_sets_get_more_epochs_and_a_warm_up_in_steps() -> None:
    config = TrainConfig(epochs=10, min_steps=300, warmup_steps=40, warmup_ratio=0.1)
    assert planned_epochs(config, steps_per_epoch=3) == 100  # 25 forms: 3 steps an epoch
    assert planned_epochs(config, steps_per_epoch=40) == 10  # enough steps already
    assert planned_epochs(config.model_copy(update={"min_steps": 0}), steps_per_epoch=3) == 10
    assert warmup_steps(config, total_steps=300) == 40  # the floor beats 10% of 300
    assert warmup_steps(config, total_steps=1000) == 100  # 10% beats the floor
    assert warmup_steps(config, total_steps=30) == 15  # never more than half a short run


def test_outside_class_is_down_weighted_in_the_token_loss(tiny_backbone: str) -> None:
    bundle = ModelBundle.from_backbone(extractor_spec(tiny_backbone))
    assert loss_weights(bundle, TrainConfig(outside_weight=1.0)) is None  # the model's own
    weights = loss_weights(bundle, TrainConfig(outside_weight=0.25))
    assert weights is not None and weights.tolist() == [0.25, 1.0, 1.0]
    doc = make_corpus(n_per_type=1, seed=1)[0]
    tags = ["B-x" if i % 3 == 0 else "O" for i in range(len(doc.words))]
    doc = TrainingExample(doc.document_id, doc.doc_type, doc.words, doc.boxes, doc.pages, tags)
    windows = bundle.featurizer.example_windows(doc, 0, label2id=bundle.spec.label2id)
    bundle.model.eval()
    plain = training_loss(bundle, bundle.featurizer.collate(windows), None)
    same = training_loss(bundle, bundle.featurizer.collate(windows), torch.ones(3))
    weighted = training_loss(bundle, bundle.featurizer.collate(windows), weights)
    assert torch.allclose(plain, same, atol=1e-5)  # weights of 1 are the unweighted loss
    assert not torch.allclose(plain, weighted, atol=1e-4)


def test_the_fresh_head_gets_its_own_learning_rate(tiny_backbone: str) -> None:
    bundle = ModelBundle.from_backbone(
        extractor_spec(tiny_backbone, full_finetune=True, train_2d_embeddings=False)
    )
    config = TrainConfig(learning_rate=1e-3, full_learning_rate=1e-4, head_lr_multiplier=2)
    optimizer, params = build_optimizer(bundle.model, config, full=True)
    rates = sorted(group["lr"] for group in optimizer.param_groups)
    assert rates == pytest.approx([1e-4, 2e-3])  # encoder at the full rate, head above
    adapter, _ = build_optimizer(bundle.model, config)
    assert sorted(g["lr"] for g in adapter.param_groups) == pytest.approx([1e-3, 2e-3])
    assert is_head_parameter("classifier.weight")
    assert is_head_parameter("base_model.model.classifier.modules_to_save.default.bias")
    assert not is_head_parameter("layoutlm.encoder.layer.0.output.dense.weight")
    # fixed 2-D box embeddings stay out of a full fine-tune's trainable parameters
    box = [p for n, p in bundle.model.named_parameters() if "x_position_embeddings" in n]
    assert box and not any(p.requires_grad for p in box)
    assert all(p.requires_grad for p in params)


def test_selection_on_f1_keeps_improving_while_f1_is_stuck_and_loss_falls() -> None:
    stuck = selection_score({"val_loss": 0.9, "val_micro_f1": 0.0}, "val_f1")
    falling = selection_score({"val_loss": 0.5, "val_micro_f1": 0.0}, "val_f1")
    learnt = selection_score({"val_loss": 0.7, "val_micro_f1": 0.4}, "val_f1")
    assert stuck < falling < learnt  # a higher F1 wins even at a higher loss
    assert selection_score({"val_loss": 0.7, "val_micro_f1": 0.4}, "val_loss") < falling
    with pytest.raises(ValueError, match="select_on"):
        selection_score({"val_loss": 1.0}, "accuracy")


def test_full_finetune_v1_children_are_small_adapters_on_its_registered_weights(
    tiny_backbone: str, registry: ModelRegistry, tmp_path: Path
) -> None:
    """V1 is a full fine-tune (all weights in its version); a warm start from it is a LoRA
    adapter whose bundle holds no encoder weights and names V1's version as its base; it loads
    back through the registry to the same outputs, and its own children stay adapters too."""
    data = make_corpus(n_per_type=3, seed=2)
    config = TrainConfig(
        epochs=2, learning_rate=1e-3, batch_size=4, max_length=32, stride=8,
        full_finetune=True, lora_dropout=0.0, progress=False, min_steps=0,
    )  # fmt: skip
    v1 = train("extractor", data, backbone=tiny_backbone, config=config).bundle
    run_id = registry.start_run("extractor")
    v1_version = registry.register_bundle(run_id, v1)
    registry.end_run(run_id)
    v1_uri = f"models:/{v1_version.name}/{v1_version.version}"
    _, parent = registry.load_bundle(v1_uri)
    assert parent.spec.full_finetune and parent.source_uri == v1_uri

    child = train(
        "extractor", data, parent=parent, config=config.model_copy(update={"epochs": 1})
    ).bundle
    assert not child.spec.full_finetune and child.spec.base_model == v1_uri
    saved = child.save(tmp_path / "child")
    assert (saved / ADAPTER_FILE).is_file() and not (saved / FULL_FILE).is_file()
    v1_size = (v1.save(tmp_path / "v1") / FULL_FILE).stat().st_size
    adapter = load_file(str(saved / ADAPTER_FILE))
    assert not any("encoder.layer.0.output.dense.weight" in k and "lora" not in k for k in adapter)
    assert (saved / ADAPTER_FILE).stat().st_size < v1_size

    with pytest.raises(ValueError, match="through the registry"):
        ModelBundle.load(saved)
    run_id = registry.start_run("extractor")
    child_version = registry.register_bundle(run_id, child)
    registry.end_run(run_id)
    _, loaded = registry.load_bundle(f"models:/{child_version.name}/{child_version.version}")
    windows = child.featurizer.example_windows(data[0], 0)
    for a, b in zip(child.window_logits(windows), loaded.window_logits(windows), strict=True):
        assert torch.allclose(a, b, atol=1e-5)

    grandchild = loaded.child([*loaded.spec.labels, "B-new", "I-new"])
    assert grandchild.spec.base_model == v1_uri and not grandchild.spec.full_finetune
    assert grandchild.model_type == "extractor"

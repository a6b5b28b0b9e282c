"""Train -> register -> load by alias -> predict, warm start and head extension, on tiny models."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
import torch

from selfimprove_assets.lib.models.artifacts import ADAPTER_FILE, ModelBundle
from selfimprove_assets.lib.models.names import CHAMPION
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.models.registry import (
    ModelRegistry,
    clear_predictor_cache,
    load_predictor,
)
from selfimprove_assets.lib.models.training import (
    TrainConfig,
    TrainResult,
    _windows,
    example_document,
    split_examples,
    train,
)
from selfimprove_assets.lib.types import TrainingExample
from selfimprove_assets_tests.lib.models.conftest import bundle_files, extractor_spec
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus


def _register(registry: ModelRegistry, result: TrainResult, **tags: str) -> str:
    run_id = registry.start_run(result.bundle.model_type, params={"epochs": 6})
    registered = registry.register_bundle(run_id, result.bundle, version_tags=tags)
    registry.end_run(run_id)
    return registered.version


def test_training_reduces_validation_loss(trained: dict[str, TrainResult]) -> None:
    for result in trained.values():
        assert result.history, "per-epoch metrics recorded"
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
        assert result.metrics["val_loss"] < max(h["val_loss"] for h in result.history) + 1e-9
        assert result.n_val > 0 and result.n_train > result.n_val
    assert trained["classifier"].bundle.spec.labels == ["invoice", "medical", "receipt"]
    assert trained["extractor"].bundle.spec.labels[0] == "O"


@pytest.mark.parametrize("model_type", ["classifier", "extractor"])
def test_register_load_by_alias_predict_round_trip(
    model_type: str,
    trained: dict[str, TrainResult],
    registry: ModelRegistry,
    mlflow_store: tuple[str, str],
    corpus: list[TrainingExample],
) -> None:
    result = trained[model_type]
    version = _register(registry, result, dataset_hash="abc", cycle="1", parent_version="")
    name = "doc-classifier" if model_type == "classifier" else "entity-extractor"
    stored = registry.get_version(name, version)
    assert stored.tags["dataset_hash"] == "abc" and stored.tags["model_type"] == model_type
    assert CHAMPION not in stored.aliases, "registration must not promote"
    registry.set_alias(name, CHAMPION, version)
    assert str(registry.get_version_by_alias(name, CHAMPION).version) == version  # type: ignore[union-attr]

    clear_predictor_cache()
    loaded = load_predictor(f"models:/{name}@{CHAMPION}", mlflow_store[0])
    assert loaded is load_predictor(f"models:/{name}/{version}", mlflow_store[0]), "cached"
    assert loaded.version == version
    docs = [example_document(e) for e in corpus[:6]]
    local = ModelPredictor(result.bundle)
    if model_type == "classifier":
        got, want = loaded.classify(docs), local.classify(docs)
        assert [r.doc_type for r in got] == [r.doc_type for r in want]
        for g, w in zip(got, want, strict=True):
            assert g.confidence == pytest.approx(w.confidence, abs=1e-4)
            assert sum(g.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    else:
        got_e, want_e = loaded.extract(docs), local.extract(docs)
        assert [[(e.label, e.text) for e in d] for d in got_e] == [
            [(e.label, e.text) for e in d] for d in want_e
        ]
        assert [[e.bbox for e in d] for d in got_e] == [[e.bbox for e in d] for d in want_e]


def test_registered_version_is_small_and_loads_as_pyfunc(
    trained: dict[str, TrainResult],
    registry: ModelRegistry,
    tmp_path: Path,
    corpus: list[TrainingExample],
) -> None:
    result = trained["classifier"]
    version = _register(registry, result)
    model_version = registry.get_version("doc-classifier", version)
    bundle_dir = registry.download_bundle(model_version, tmp_path)
    files = bundle_files(bundle_dir)
    assert ADAPTER_FILE in files and not any(
        f.endswith("model.safetensors") and f != ADAPTER_FILE for f in files
    )
    backbone_bytes = sum(
        p.stat().st_size for p in Path(result.bundle.spec.backbone).glob("*.safetensors")
    )
    lora_and_heads = files[ADAPTER_FILE]
    assert lora_and_heads < 2_000_000
    # only the adapter, heads and new 2-D embeddings: far fewer tensors than the backbone has
    assert model_version.tags["backbone"] == result.bundle.spec.backbone
    assert backbone_bytes > 0
    pyfunc = mlflow.pyfunc.load_model(str(bundle_dir.parent.parent))
    docs = [example_document(e).to_dict() for e in corpus[:3]]
    out = pyfunc.predict(pd.DataFrame({"page_words": docs}))
    assert len(out) == 3 and {"doc_type", "confidence"} <= set(out[0])


def test_warm_start_continues_from_the_parent(
    trained: dict[str, TrainResult],
    tiny_backbone: str,
    corpus: list[TrainingExample],
    fast_config: TrainConfig,
) -> None:
    parent = trained["extractor"].bundle
    fresh = make_corpus(n_per_type=4, seed=7)
    train_set, val_set = split_examples(fresh, 0.25, seed=1)
    parent_loss = parent.mean_loss(_windows(parent, val_set))
    seen: list[tuple[int, dict[str, float]]] = []
    child = train(
        "extractor",
        train_set,
        validation=val_set,
        parent=parent,
        config=fast_config,
        on_metrics=lambda step, m: seen.append((step, dict(m))),
    )
    step0 = [m for step, m in seen if step == 0]
    assert step0 and step0[0]["val_loss"] == pytest.approx(parent_loss, abs=1e-5)
    cold = train(
        "extractor", train_set, validation=val_set, backbone=tiny_backbone, config=fast_config
    )
    assert child.bundle.spec.labels == parent.spec.labels and child.new_labels == []
    assert parent_loss < cold.history[0]["val_loss"] + 1.0  # sanity: the parent is a trained model
    assert child.best_epoch >= 1  # the candidate is a trained epoch, not the parent unchanged
    # the kept epoch is the one with the best validation F1 (select_on="val_f1")
    best = child.history[child.best_epoch - 1]
    assert child.metrics["val_loss"] == pytest.approx(best["val_loss"])
    assert best["val_micro_f1"] == max(h["val_micro_f1"] for h in child.history)


def test_unseen_label_extends_the_head(
    trained: dict[str, TrainResult], fast_config: TrainConfig
) -> None:
    parent = trained["extractor"].bundle
    data = make_corpus(n_per_type=3, seed=11, extra_label="ref")
    result = train("extractor", data, parent=parent, config=fast_config)
    assert result.bundle.spec.labels == [*parent.spec.labels, "B-ref", "I-ref"]
    assert result.new_labels == ["B-ref", "I-ref"]
    child = parent.child(result.bundle.spec.labels)

    def head(bundle: ModelBundle) -> torch.Tensor:
        state = bundle.trainable_state()
        return next(v for k, v in state.items() if k.endswith("classifier.weight"))

    old = len(parent.spec.labels)
    assert head(child).shape[0] == old + 2
    assert torch.equal(head(child)[:old], head(parent))
    docs = [example_document(e) for e in data[:2]]
    combined = DocumentPredictor(
        ModelPredictor(trained["classifier"].bundle), ModelPredictor(result.bundle)
    )
    predictions = combined.predict(docs)
    assert len(predictions) == 2 and predictions[0].doc_type in {"invoice", "medical", "receipt"}


def test_extractor_learns_its_training_documents(tiny_backbone: str) -> None:
    """Labels -> tokens -> LoRA training -> decoding -> metrics all line up: the model can fit
    a handful of documents (validating on the same documents to measure fit, not quality)."""
    data = make_corpus(n_per_type=3, seed=5)
    config = TrainConfig(
        epochs=10, learning_rate=5e-2, batch_size=4, max_length=64, stride=8,
        lora_dropout=0.0, patience=100, progress=False, min_steps=0,
        lora_layers="query_value", train_2d_embeddings=True,
    )  # fmt: skip
    result = train("extractor", data, validation=data, backbone=tiny_backbone, config=config)
    assert result.history[0]["val_micro_f1"] < 0.3
    assert result.metrics["val_micro_f1"] > 0.6


@pytest.mark.parametrize(
    ("lora_layers", "train_2d", "ffn_adapted"),
    [("all_linear", False, True), ("query_value", True, False)],
)
def test_lora_placement_and_fixed_box_embeddings_round_trip(
    tiny_backbone: str,
    tmp_path: Path,
    lora_layers: str,
    train_2d: bool,
    ffn_adapted: bool,
) -> None:
    """The spec decides where LoRA sits and whether the 2-D box embeddings are trained; a saved
    bundle stores only what was trained and reloads to the same outputs."""
    spec = extractor_spec(tiny_backbone, lora_layers=lora_layers, train_2d_embeddings=train_2d)
    bundle = ModelBundle.from_backbone(spec)
    names = [n for n, _ in bundle.model.named_parameters()]
    assert any("intermediate.dense.lora_A" in n for n in names) is ffn_adapted
    assert any("attention.self.key.lora_A" in n for n in names) is ffn_adapted
    assert not any("pooler" in n and "lora_" in n for n in names)
    box = [p for n, p in bundle.model.named_parameters() if "x_position_embeddings" in n]
    assert any(p.requires_grad for p in box) is train_2d
    state = bundle.trainable_state()
    assert any("x_position_embeddings" in k for k in state) is train_2d
    with torch.no_grad():  # make the adapter non-trivial so the round trip means something
        for name, param in bundle.model.named_parameters():
            if "lora_B" in name:
                param.add_(0.05)
    bundle.save(tmp_path / "b")
    loaded = ModelBundle.load(tmp_path / "b")
    assert loaded.spec.lora_layers == lora_layers
    assert loaded.spec.train_2d_embeddings is train_2d
    doc = make_corpus(n_per_type=1, seed=3)[0]
    windows = bundle.featurizer.example_windows(doc, 0)
    for a, b in zip(bundle.window_logits(windows), loaded.window_logits(windows), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_bundles_without_the_new_spec_keys_load_as_before() -> None:
    from selfimprove_assets.lib.models.spec import ModelSpec

    spec = ModelSpec(model_type="classifier", labels=["a", "b"], backbone="x")
    assert spec.lora_layers == "query_value" and spec.train_2d_embeddings is True
    with pytest.raises(ValueError, match="lora_layers"):
        ModelSpec(model_type="classifier", labels=["a"], backbone="x", lora_layers="every")

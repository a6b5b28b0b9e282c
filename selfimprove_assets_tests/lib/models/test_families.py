"""Every model family through the same life, on tiny random checkpoints written from their
configs: V1 (LoRA and full) -> registered -> warm-started candidate -> reloaded and predicting
identically -> served; int8 where it agrees with float32; the family errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.families import FAMILIES, family_of_backbone
from selfimprove_assets.lib.models.inference import inference_module, is_quantized, quantize_int8
from selfimprove_assets.lib.models.names import CHAMPION
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.registry import (
    ModelRegistry,
    clear_predictor_cache,
    load_predictor,
)
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.tiny import TINY_MODEL_TYPES, save_tiny_checkpoint
from selfimprove_assets.lib.models.training import TrainConfig, TrainResult, example_document, train
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.types import PageWords, TrainingExample
from selfimprove_assets_tests.lib.models.conftest import extractor_spec
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary

FAMILY_OF = {"bert": "bert", "roberta": "bert", "layoutlm": "layoutlm"}
CONFIG = TrainConfig(
    epochs=2, learning_rate=2e-2, batch_size=4, max_length=32, stride=8, lora_dropout=0.0,
    patience=3, min_steps=0, warmup_steps=0, progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("families")
    return {t: str(save_tiny_checkpoint(root / t, vocabulary(), t)) for t in TINY_MODEL_TYPES}


@pytest.fixture(scope="module")
def data() -> list[TrainingExample]:
    return make_corpus(n_per_type=4, seed=3)


def _entities(predictor: ModelPredictor, docs: list[PageWords]) -> list[list[tuple[str, str]]]:
    return [[(e.label, e.text) for e in d] for d in predictor.extract(docs)]


def _register(registry: ModelRegistry, result: TrainResult) -> str:
    run_id = registry.start_run(result.bundle.model_type, params={"epochs": 2})
    version = registry.register_bundle(run_id, result.bundle).version
    registry.end_run(run_id)
    return str(version)


@pytest.mark.parametrize("checkpoint", TINY_MODEL_TYPES)
@pytest.mark.parametrize("full", [False, True], ids=["lora", "full"])
def test_family_goes_through_the_loop(
    checkpoint: str,
    full: bool,
    checkpoints: dict[str, str],
    data: list[TrainingExample],
    registry: ModelRegistry,
    mlflow_store: tuple[str, str],
    tmp_path: Path,
) -> None:
    backbone = checkpoints[checkpoint]
    family = FAMILY_OF.get(checkpoint, checkpoint)
    v1 = train(
        "extractor",
        data,
        backbone=backbone,
        config=CONFIG.model_copy(update={"full_finetune": full}),
    )
    assert v1.bundle.spec.family == family and v1.bundle.spec.full_finetune == full
    assert v1.history[-1]["train_loss"] < v1.history[0]["train_loss"]
    _, parent = registry.load_bundle(f"models:/entity-extractor/{_register(registry, v1)}")
    assert parent.spec.family == family
    fresh = make_corpus(n_per_type=2, seed=9, extra_label="ref")
    candidate = train("extractor", fresh, parent=parent, backbone=backbone, config=CONFIG)
    spec = candidate.bundle.spec
    assert spec.family == family and not spec.full_finetune
    assert spec.labels == [*parent.spec.labels, "B-ref", "I-ref"]
    version = _register(registry, candidate)

    docs = [example_document(e) for e in fresh[:4]]
    want = _entities(ModelPredictor(candidate.bundle), docs)
    reloaded = ModelBundle.load(
        candidate.bundle.save(tmp_path / "bundle"), base_loader=registry.full_weights
    )
    assert reloaded.spec.family == family
    assert _entities(ModelPredictor(reloaded), docs) == want  # after a restart: the same

    registry.set_alias("entity-extractor", CHAMPION, version)
    clear_predictor_cache()
    served = load_predictor(f"models:/entity-extractor@{CHAMPION}", mlflow_store[0])
    assert served.version == version and served.bundle.spec.family == family
    assert registry.get_version("entity-extractor", version).tags["family"] == family
    assert is_quantized(served.inference_model()) == FAMILIES[family].int8
    assert _entities(served, docs) == want


@pytest.mark.parametrize("checkpoint", TINY_MODEL_TYPES)
def test_classifier_of_each_family_reloads_identically(
    checkpoint: str, checkpoints: dict[str, str], data: list[TrainingExample], tmp_path: Path
) -> None:
    result = train("classifier", data, backbone=checkpoints[checkpoint], config=CONFIG)
    docs = [example_document(e) for e in data[:6]]
    want = ModelPredictor(result.bundle).classify(docs)
    reloaded = ModelBundle.load(result.bundle.save(tmp_path / "bundle"))
    got = ModelPredictor(reloaded).classify(docs)
    assert [g.doc_type for g in got] == [w.doc_type for w in want]
    for g, w in zip(got, want, strict=True):
        assert g.confidence == pytest.approx(w.confidence, abs=1e-5)


@pytest.mark.parametrize("checkpoint", TINY_MODEL_TYPES)
def test_int8_agreement_is_the_recorded_fact(
    checkpoint: str, checkpoints: dict[str, str], data: list[TrainingExample]
) -> None:
    """``Family.int8`` says whether the int8 copy agrees with float32: the same argmax on every
    token of a trained V1; a family marked int8 must agree, one marked fp32 must not."""
    bundle = train("extractor", data, backbone=checkpoints[checkpoint], config=CONFIG).bundle
    fp32 = inference_module(bundle.model, "fp32")
    int8 = copy.deepcopy(fp32)
    assert quantize_int8(int8, force=True)
    windows = [w for e in data for w in bundle.featurizer.example_windows(e, 0)]
    a = bundle.window_logits(windows, model=fp32)
    b = bundle.window_logits(windows, model=int8)
    agree = all(torch.equal(x.argmax(-1), y.argmax(-1)) for x, y in zip(a, b, strict=True))
    family = FAMILIES[FAMILY_OF.get(checkpoint, checkpoint)]
    assert agree == family.int8, f"{family.name}: int8 agrees with fp32: {agree}"


def test_layoutlm_checkpoint_keeps_its_pretrained_2d_embeddings(
    checkpoints: dict[str, str],
) -> None:
    backbone = checkpoints["layoutlm"]
    bundle = ModelBundle.from_backbone(extractor_spec(backbone, full_finetune=True))
    stored = load_file(str(Path(backbone) / "model.safetensors"))
    own = bundle.model.state_dict()
    for axis in "xyhw":
        key = f"embeddings.{axis}_position_embeddings.weight"
        assert torch.equal(own[f"layoutlm.{key}"], stored[key])
    bert = ModelBundle.from_backbone(extractor_spec(checkpoints["bert"], full_finetune=True))
    assert bert.spec.family == "bert" and bundle.spec.family == "layoutlm"


def test_roberta_positions_are_shifted_and_bpe_words_align(checkpoints: dict[str, str]) -> None:
    backbone = checkpoints["roberta"]
    bundle = ModelBundle.from_backbone(extractor_spec(backbone, full_finetune=True))
    stored = load_file(str(Path(backbone) / "model.safetensors"))
    table = bundle.model.state_dict()["layoutlm.embeddings.position_embeddings.weight"]
    assert torch.equal(table, stored["embeddings.position_embeddings.weight"][2:])
    windows = bundle.featurizer.windows(["total", "12.50", "héllo"], [(1, 2, 3, 4)] * 3)
    words = [w for w in windows[0].word_ids if w is not None]
    assert sorted(set(words)) == [0, 1, 2] and windows[0].input_ids[0] == 0  # <s>


def test_bros_reads_boxes_normalised(checkpoints: dict[str, str]) -> None:
    bundle = ModelBundle.from_backbone(extractor_spec(checkpoints["bros"]))
    batch = bundle.featurizer.collate(bundle.featurizer.windows(["total"], [(100, 200, 500, 1000)]))
    assert batch["bbox"].dtype == torch.float32
    assert batch["bbox"][0, 1].tolist() == pytest.approx([0.1, 0.2, 0.5, 1.0])


def test_switching_one_model_types_backbone_leaves_the_other(tmp_path: Path) -> None:
    from selfimprove_assets.defs.resources import default_resources

    settings = Settings.model_validate({"home": tmp_path, "backbone": "/models/minilm"})
    switched = settings.with_overrides({"models": {"extractor_backbone": "/models/layoutlmv3"}})
    assert switched.backbone_for("extractor") == "/models/layoutlmv3"
    assert (
        switched.backbone_for("classifier")
        == "/models/minilm"
        == settings.backbone_for("extractor")
    )
    home = default_resources(switched)["home"]
    assert home.backbone_for("extractor") == "/models/layoutlmv3"
    assert home.backbone_for("classifier") == "/models/minilm"


def test_unknown_family_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'gpt2'.*supported families.*layoutlmv3.*lilt.*bros"):
        family_of_backbone(str(tmp_path))
    with pytest.raises(ValueError, match="unknown model family 'gpt9'; supported: bert, layoutlm"):
        ModelSpec(model_type="extractor", labels=["O"], backbone="x", family="gpt9")


def test_old_bundles_read_as_the_bert_family() -> None:
    spec = ModelSpec.from_dict({"model_type": "extractor", "labels": ["O"], "backbone": "x"})
    assert spec.family == "bert"


def test_warm_start_onto_another_family_is_refused(
    checkpoints: dict[str, str], data: list[TrainingExample]
) -> None:
    parent = train("extractor", data, backbone=checkpoints["bert"], config=CONFIG).bundle
    with pytest.raises(ValueError, match="warm starts stay within a family.*new V1 of the lilt"):
        train("extractor", data, parent=parent, backbone=checkpoints["lilt"], config=CONFIG)


@pytest.mark.cuda
@pytest.mark.parametrize("checkpoint", TINY_MODEL_TYPES)
def test_family_trains_and_serves_on_cuda_in_bf16(
    checkpoint: str, checkpoints: dict[str, str], data: list[TrainingExample], tmp_path: Path
) -> None:
    """On a GPU each family trains and predicts under bf16 autocast, and a bundle trained there
    reloads on the CPU to the same entities as its CPU float32 form predicts."""
    config = CONFIG.model_copy(update={"device": "cuda"})
    result = train("extractor", data, backbone=checkpoints[checkpoint], config=config)
    assert next(result.bundle.model.parameters()).device.type == "cuda"
    docs = [example_document(e) for e in data[:4]]
    on_gpu = ModelPredictor(result.bundle, device=torch.device("cuda"))
    assert len(on_gpu.extract(docs)) == len(docs)
    reloaded = ModelBundle.load(result.bundle.save(tmp_path / "bundle"))
    cpu = ModelPredictor(reloaded)
    assert len(_entities(cpu, docs)) == len(docs)

"""The inference form of a model: merged, int8, classifier on the first tokens; kept fresh."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from peft import PeftModel
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
from transformers import LayoutLMConfig, LayoutLMForTokenClassification

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.featurizer import SEP_BOX, Window
from selfimprove_assets.lib.models.inference import (
    FP32,
    INT8,
    MMAP_THRESHOLD_MAX,
    FullRangeInt8Linear,
    InferenceOptions,
    classifier_windows,
    cpu_has_vnni,
    head_window,
    inference_module,
    is_quantized,
    quantize_int8,
    token_batches,
    token_budget,
)
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.training import TrainResult, _windows, example_document
from selfimprove_assets.lib.types import TrainingExample


def _logits(
    result: TrainResult, module: torch.nn.Module, corpus: list[TrainingExample]
) -> torch.Tensor:
    windows = _windows(result.bundle, corpus[:12])
    rows = result.bundle.window_logits(windows, 8, model=module)
    return torch.cat([r.reshape(-1, r.shape[-1]) for r in rows])


@pytest.mark.parametrize("model_type", ["classifier", "extractor"])
def test_inference_module_merges_and_quantizes_a_copy(
    model_type: str, trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    result = trained[model_type]
    source = result.bundle.model
    assert isinstance(source, PeftModel)
    before = {k: v.clone() for k, v in source.state_dict().items()}

    merged = inference_module(source, FP32)
    quantized = inference_module(source, INT8)

    assert not isinstance(merged, PeftModel) and not is_quantized(merged)
    assert is_quantized(quantized) and not is_quantized(source)
    assert isinstance(source, PeftModel), "the source keeps its adapters"
    after = source.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "source weights unchanged"
    # Embeddings are shared with the source, not copied.
    words = source.get_parameter("base_model.model.layoutlm.embeddings.word_embeddings.weight")
    shared = quantized.get_parameter("layoutlm.embeddings.word_embeddings.weight")
    assert shared.data_ptr() == words.data_ptr()
    # Heads stay float32 (they set the calibrated scores).
    assert isinstance(quantized.get_submodule("classifier"), torch.nn.Linear)

    reference = _logits(result, source, corpus)
    assert torch.allclose(_logits(result, merged, corpus), reference, atol=1e-4), "merge is exact"
    approx = _logits(result, quantized, corpus)
    assert not torch.equal(approx, reference), "int8 really runs"
    agree = float((approx.argmax(-1) == reference.argmax(-1)).float().mean())
    assert agree >= 0.9, f"int8 argmax agrees with fp32 on {agree:.0%} of rows"


def test_predictor_rebuilds_its_model_when_weights_change(
    trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    bundle = trained["classifier"].bundle.child(trained["classifier"].bundle.spec.labels)
    predictor = ModelPredictor(bundle, options=InferenceOptions(FP32, None))
    docs = [example_document(e) for e in corpus[:6]]
    first = predictor.inference_model()
    assert predictor.inference_model() is first, "built once while weights stay the same"
    before = predictor.classify(docs)

    # Push a label that the first document does not get far ahead of the others.
    target = next(i for i, t in enumerate(bundle.spec.labels) if t != before[0].doc_type)
    bias = bundle.model.get_parameter("base_model.model.classifier.modules_to_save.default.bias")
    with torch.no_grad():
        bias[target] += 50.0
    assert predictor.inference_model() is not first, "an in-place update is noticed"
    after = predictor.classify(docs)
    assert all(r.doc_type == bundle.spec.labels[target] for r in after)
    assert after[0].doc_type != before[0].doc_type


def test_predictions_follow_the_options(
    trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    bundle = trained["classifier"].bundle
    docs = [example_document(e) for e in corpus[:9]]
    reference = ModelPredictor(bundle, options=InferenceOptions.reference())
    assert not is_quantized(reference.inference_model())
    default = ModelPredictor(bundle, options=InferenceOptions())
    assert is_quantized(default.inference_model())
    short = ModelPredictor(bundle, options=InferenceOptions(FP32, 8))
    assert all(len(w) == 8 for w in short.classifier_inputs(docs))
    full = reference.classifier_inputs(docs)
    assert max(len(w) for w in full) > 8
    # Fewer tokens changes the classifier's input, hence its scores.
    got = [r.confidence for r in short.classify(docs)]
    want = [r.confidence for r in reference.classify(docs)]
    assert got != pytest.approx(want, abs=1e-6)


def _window(doc: int, n: int) -> Window:
    return Window(
        doc_index=doc,
        input_ids=[101, *range(1000, 1000 + n - 2), 102],
        bbox=[(0, 0, 0, 0), *[(i, i, i + 1, i + 1) for i in range(n - 2)], SEP_BOX],
        word_ids=[None, *range(n - 2), None],
        first_subword=[False, *[True] * (n - 2), False],
        labels=[-100, *[1] * (n - 2), -100],
    )


def test_head_window_keeps_cls_and_closes_with_sep() -> None:
    window = _window(0, 20)
    head = head_window(window, 10, sep_id=102)
    assert len(head) == 10
    assert head.input_ids == [101, *range(1000, 1008), 102]
    assert head.bbox[-1] == SEP_BOX and head.bbox[:9] == window.bbox[:9]
    assert head.word_ids == [None, *range(8), None]
    assert head.first_subword[-1] is False and head.labels == [-100, *[1] * 8, -100]
    assert head_window(window, 20, sep_id=102) is window


def test_classifier_windows_take_each_documents_first_window() -> None:
    windows = [_window(0, 30), _window(0, 25), _window(1, 6), _window(2, 40), _window(2, 12)]
    assert classifier_windows(windows, None, 102) is windows
    picked = classifier_windows(windows, 16, 102)
    assert [w.doc_index for w in picked] == [0, 1, 2]
    assert [len(w) for w in picked] == [16, 6, 16]
    assert picked[0].input_ids[:15] == windows[0].input_ids[:15]


def test_options_from_environment() -> None:
    assert InferenceOptions.from_env({}) == InferenceOptions()
    assert InferenceOptions().precision == INT8
    off = InferenceOptions.from_env(
        {"SELFIMPROVE_INFERENCE_PRECISION": "FP32", "SELFIMPROVE_CLASSIFIER_TOKENS": "0"}
    )
    assert off == InferenceOptions.reference()
    assert (
        InferenceOptions.from_env({"SELFIMPROVE_CLASSIFIER_TOKENS": "64"}).classifier_tokens == 64
    )
    with pytest.raises(ValueError, match="precision"):
        InferenceOptions.from_env({"SELFIMPROVE_INFERENCE_PRECISION": "int4"})
    with pytest.raises(ValueError, match="SELFIMPROVE_CLASSIFIER_TOKENS"):
        InferenceOptions.from_env({"SELFIMPROVE_CLASSIFIER_TOKENS": "many"})
    with pytest.raises(ValueError, match="at least 8"):
        InferenceOptions(classifier_tokens=4)


def test_token_batches_cap_windows_and_padded_tokens() -> None:
    windows = [_window(i, n) for i, n in enumerate([10, 40, 12, 40, 11, 30, 9])]
    plain = token_batches(windows, 3, None)
    assert [[len(windows[i]) for i in b] for b in plain] == [[9, 10, 11], [12, 30, 40], [40]]
    capped = token_batches(windows, 3, 60)
    sizes = [[len(windows[i]) for i in b] for b in capped]
    assert sizes == [[9, 10, 11], [12, 30], [40], [40]]
    assert all(len(b) * max(len(windows[i]) for i in b) <= 60 for b in capped)
    assert sorted(i for b in capped for i in b) == list(range(len(windows)))
    # A window longer than the budget still gets a batch of its own.
    assert token_batches([_window(0, 80)], 4, 60) == [[0]]


def test_token_budget_keeps_the_widest_activation_under_the_mmap_threshold(
    trained: dict[str, TrainResult],
) -> None:
    module = inference_module(trained["extractor"].bundle.model, FP32)
    budget = token_budget(module)
    config = module.get_submodule("layoutlm").config
    assert isinstance(config, LayoutLMConfig)
    width = config.intermediate_size
    assert budget * width * 4 <= MMAP_THRESHOLD_MAX or budget == 512
    minilm = LayoutLMConfig(hidden_size=384, intermediate_size=1536)
    assert token_budget(LayoutLMForTokenClassification(minilm)) == 4096


def test_both_models_share_one_tokenization_when_their_featurizers_agree(
    trained: dict[str, TrainResult], corpus: list[TrainingExample], monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = ModelPredictor(trained["classifier"].bundle)
    extractor = ModelPredictor(trained["extractor"].bundle)
    docs = [example_document(e) for e in corpus[:8]]
    alone = (classifier.classify(docs), extractor.extract(docs))
    assert classifier.featurizer_key == extractor.featurizer_key

    def refuse(_documents: object) -> list[Window]:
        raise AssertionError("the classifier should reuse the extractor's windows")

    monkeypatch.setattr(classifier, "windows", refuse)
    together = DocumentPredictor(classifier, extractor).predict(docs)
    assert [p.doc_type for p in together] == [r.doc_type for r in alone[0]]
    assert [p.doc_type_confidence for p in together] == [r.confidence for r in alone[0]]
    assert [p.entities for p in together] == alone[1]

    other = trained["classifier"].bundle
    longer = ModelPredictor(
        ModelBundle(replace(other.spec, max_length=48), other.model, other.tokenizer)
    )
    assert longer.featurizer_key != classifier.featurizer_key


def test_full_range_activations_are_closer_to_float32(
    trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    result = trained["extractor"]
    merged = inference_module(result.bundle.model, FP32)
    reference = _logits(result, merged, corpus)
    errors = {}
    for full in (True, False):
        module = copy.deepcopy(merged)
        assert quantize_int8(module, full_range=full)
        kinds = {type(m) for m in module.modules() if isinstance(m, DynamicLinear)}
        assert kinds == ({FullRangeInt8Linear} if full else {DynamicLinear})
        errors[full] = float((_logits(result, module, corpus) - reference).abs().mean())
    chosen = copy.deepcopy(merged)
    assert quantize_int8(chosen)  # full_range None: what serving picks on this CPU
    picked = {type(m) for m in chosen.modules() if isinstance(m, DynamicLinear)}
    if cpu_has_vnni():
        # int32 accumulation: the 8th bit is pure gain, and serving takes it
        assert 0 < errors[True] < errors[False]
        assert picked == {FullRangeInt8Linear}
    else:
        # without VNNI, u8*s8 pairs saturate in int16 at full range: serving stays at 7 bits
        assert 0 < errors[False]
        assert picked == {DynamicLinear}
    assert not quantize_int8(torch.nn.Sequential(torch.nn.Linear(4, 4))), "no encoder: no-op"


def test_building_the_inference_copy_leaves_training_untouched(tiny_backbone: str) -> None:
    """Shared tensors (here trainable box embeddings) keep their gradients and values."""
    spec = ModelSpec(
        model_type="extractor",
        labels=["O", "B-total", "I-total"],
        backbone=tiny_backbone,
        train_2d_embeddings=True,
    )
    bundle = ModelBundle.from_backbone(spec)
    trainable = {n for n, p in bundle.model.named_parameters() if p.requires_grad}
    assert any("x_position_embeddings" in n for n in trainable)
    for precision in (FP32, INT8):
        inference_module(bundle.model, precision)
    assert {n for n, p in bundle.model.named_parameters() if p.requires_grad} == trainable
    assert isinstance(bundle.model, PeftModel)

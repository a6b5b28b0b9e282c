"""The word-shape and line-box input channels: classes, lines, windows, training and bundles."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.backbone import load_tokenizer
from selfimprove_assets.lib.models.channels import LINE_EMBEDDINGS, SHAPE_EMBEDDINGS
from selfimprove_assets.lib.models.featurizer import (
    CHANNEL_WIDTH,
    LINE_COLUMNS,
    SHAPE_COLUMN,
    Featurizer,
)
from selfimprove_assets.lib.models.inference import classifier_windows
from selfimprove_assets.lib.models.layout import line_boxes, line_groups
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.shapes import FORMS, N_SHAPES, NO_WORD, word_form, word_shape
from selfimprove_assets.lib.models.training import TrainConfig, example_document, train
from selfimprove_assets.lib.types import TrainingExample
from selfimprove_assets_tests.lib.models.conftest import extractor_spec


@pytest.mark.parametrize(
    ("word", "form"),
    [
        ("invoice", "lower"),
        ("Invoice", "title"),
        ("A", "title"),
        ("TOTAL", "caps"),
        ("McDonald", "mixed"),
        ("2024", "number"),
        ("$1,234.50", "amount"),
        ("12.50", "amount"),
        ("(45.00)", "amount"),
        ("12/03/2024", "date"),
        ("2024-01-02", "date"),
        ("x9", "alphanumeric"),
        ("A12", "alphanumeric"),
        ("-", "punctuation"),
        ("...", "punctuation"),
        ("e-mail", "lower"),
        ("U.S.A.", "caps"),
        ("c/o", "other"),
        ("12:30", "other"),
    ],
)
def test_word_forms(word: str, form: str) -> None:
    assert word_form(word) == form


def test_a_trailing_colon_is_part_of_the_shape() -> None:
    assert word_shape("DATE:") == word_shape("DATE") + len(FORMS)
    assert word_shape("date:") != word_shape("DATE:")
    assert word_shape(":") == word_shape("-")  # a colon alone is punctuation
    shapes = {word_shape(w) for w in ["a", "aB", "AB", "1", "1.5", "1/2/3", "a1", "-", "a/b", "Ab"]}
    assert len(shapes) == 10 and all(NO_WORD < s < N_SHAPES for s in shapes)


def test_line_boxes_join_close_words_of_one_line_only() -> None:
    boxes = [
        (100, 100, 160, 120),  # "Name:"
        (170, 102, 230, 120),  # "John"   gap 10 < 1.5 heights: same line
        (240, 100, 300, 121),  # "Smith"
        (600, 100, 660, 120),  # "Date:"  gap 300: a new segment on the same text line
        (100, 140, 160, 160),  # next line
        (170, 140, 230, 160),  # on page 1 below: never joined across pages
    ]
    pages = [0, 0, 0, 0, 0, 1]
    assert line_groups(boxes, pages) == [[0, 1, 2], [3], [4], [5]]
    lines = line_boxes(boxes, pages)
    assert lines[:3] == [(100, 100, 300, 121)] * 3
    assert lines[3:] == boxes[3:]


def test_featurizer_windows_carry_the_channels_per_token(tiny_backbone: str) -> None:
    featurizer = Featurizer(
        load_tokenizer(tiny_backbone), max_length=12, stride=2, word_shape=True, line_boxes=True
    )
    words = ["TOTAL:", "12.50", "Alice", "smith", "dated", "2024-01-02", "x9"] * 2
    boxes = [(40 + 60 * (i % 7), 50 + 40 * (i // 7), 90 + 60 * (i % 7), 70 + 40 * (i // 7))
             for i in range(len(words))]  # fmt: skip
    windows = featurizer.windows(words, boxes, pages=[0] * len(words))
    assert len(windows) > 1
    lines = line_boxes(boxes, [0] * len(words))
    for window in windows:
        assert window.shape_ids is not None and window.line_bbox is not None
        assert len(window.shape_ids) == len(window.line_bbox) == len(window)
        for pos, word in enumerate(window.word_ids):
            if word is None:
                assert window.shape_ids[pos] == NO_WORD
            else:
                assert window.shape_ids[pos] == word_shape(words[word])
                assert window.line_bbox[pos] == lines[word]
    head = classifier_windows(windows, 8, featurizer.sep_id)[0]
    assert head.shape_ids is not None and len(head.shape_ids) == len(head) == 8
    batch = featurizer.collate(windows)
    assert batch["bbox"].shape[-1] == CHANNEL_WIDTH
    first = windows[0]
    assert first.line_bbox is not None
    assert batch["bbox"][0, : len(first), SHAPE_COLUMN].tolist() == first.shape_ids
    assert batch["bbox"][0, : len(first), LINE_COLUMNS].tolist() == [
        list(b) for b in first.line_bbox
    ]
    plain = Featurizer(load_tokenizer(tiny_backbone), max_length=12, stride=2)
    assert plain.collate(plain.windows(words, boxes))["bbox"].shape[-1] == 4


def test_channels_start_as_a_no_op(tiny_backbone: str, corpus: list[TrainingExample]) -> None:
    logits = []
    for channels in (False, True):
        torch.manual_seed(0)
        spec = extractor_spec(tiny_backbone, word_shape=channels, line_boxes=channels)
        bundle = ModelBundle.from_backbone(spec)
        windows = bundle.featurizer.example_windows(corpus[0], 0)
        logits.append(bundle.window_logits(windows))
    for plain, channeled in zip(*logits, strict=True):
        assert torch.allclose(plain, channeled, atol=1e-6)


def _entities(predictor: ModelPredictor, examples: list[TrainingExample]) -> list[list[tuple]]:
    docs = [example_document(e) for e in examples]
    return [[(e.label, e.text, e.confidence) for e in ents] for ents in predictor.extract(docs)]


@pytest.mark.parametrize("full_finetune", [False, True], ids=["lora", "full"])
def test_a_model_with_channels_trains_round_trips_and_warm_starts(
    full_finetune: bool,
    tiny_backbone: str,
    corpus: list[TrainingExample],
    fast_config: TrainConfig,
    tmp_path: Path,
) -> None:
    config = fast_config.model_copy(
        update=dict(word_shape=True, line_boxes=True, full_finetune=full_finetune, max_steps=2)
    )
    bundle = train("extractor", corpus, backbone=tiny_backbone, config=config).bundle
    assert (bundle.spec.word_shape, bundle.spec.line_boxes) == (True, True)
    trained = {
        name: float(p.detach().abs().sum())
        for name, p in bundle.model.named_parameters()
        if p.requires_grad and any(m in name for m in (SHAPE_EMBEDDINGS, *LINE_EMBEDDINGS))
    }
    assert len(trained) == 5 and all(v > 0 for v in trained.values()), trained  # learnt

    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert (loaded.spec.word_shape, loaded.spec.line_boxes) == (True, True)
    windows = loaded.featurizer.example_windows(corpus[0], 0)
    assert windows[0].shape_ids is not None and windows[0].line_bbox is not None
    for a, b in zip(bundle.window_logits(windows), loaded.window_logits(windows), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # the int8 serving path reads the channels too
    assert _entities(ModelPredictor(loaded), corpus) == _entities(ModelPredictor(bundle), corpus)
    int8 = ModelPredictor(loaded).window_logits(windows)
    fp32 = loaded.window_logits(windows)
    assert all(torch.allclose(q, f, atol=0.5) for q, f in zip(int8, fp32, strict=True))

    # a warm start keeps the channels (a child of a full fine-tune is an adapter on it)
    child = train(
        "extractor", corpus, parent=loaded, config=fast_config.model_copy(update=dict(max_steps=1))
    )
    assert (child.bundle.spec.word_shape, child.bundle.spec.line_boxes) == (True, True)
    assert child.bundle.featurizer.word_shape and child.bundle.featurizer.line_boxes


def test_a_model_with_channels_rejects_windows_without_them(tiny_backbone: str) -> None:
    bundle = ModelBundle.from_backbone(extractor_spec(tiny_backbone, word_shape=True))
    plain = Featurizer(bundle.tokenizer, max_length=32, stride=8)
    windows = plain.windows(["total", "12.50"], [(0, 0, 10, 10)] * 2)
    with pytest.raises(ValueError, match="reads word shapes"):
        bundle.window_logits(windows)


def test_a_registered_full_fine_tune_passes_its_channels_to_its_candidates(
    tiny_backbone: str,
    corpus: list[TrainingExample],
    fast_config: TrainConfig,
    registry: ModelRegistry,
) -> None:
    """A V1 with channels (a full fine-tune) -> registry -> warm start -> registry: the child
    is an adapter over the parent's weights and reads the same channels and order."""
    config = fast_config.model_copy(
        update=dict(
            full_finetune=True,
            word_shape=True,
            line_boxes=True,
            reading_order="xycut",
            decoder="viterbi",
            max_steps=2,
        )
    )
    parent = train("extractor", corpus, backbone=tiny_backbone, config=config).bundle
    run_id = registry.start_run("extractor", params={})
    parent_uri = registry.register_bundle(run_id, parent).model_uri
    registry.end_run(run_id)
    _, stored = registry.load_bundle(parent_uri)
    child = train(
        "extractor", corpus, parent=stored, config=fast_config.model_copy(update=dict(max_steps=1))
    )
    spec = child.bundle.spec
    assert (spec.full_finetune, spec.base_model) == (False, parent_uri)
    assert (spec.word_shape, spec.line_boxes, spec.reading_order, spec.decoder) == (
        True,
        True,
        "xycut",
        "viterbi",
    )
    run_id = registry.start_run("extractor", params={})
    child_uri = registry.register_bundle(run_id, child.bundle).model_uri
    registry.end_run(run_id)
    _, reloaded = registry.load_bundle(child_uri)
    want = _entities(ModelPredictor(child.bundle), corpus)
    assert _entities(ModelPredictor(reloaded), corpus) == want

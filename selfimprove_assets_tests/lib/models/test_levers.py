"""The recipe's levers reach the bundle: spec fields set from ``TrainConfig`` for a V1, kept by
warm starts and bundles, and absent keys (a format-1 bundle) read as today's behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove_assets.lib.models.artifacts import SPEC_FILE, ModelBundle
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.spec import FORMAT_VERSION
from selfimprove_assets.lib.models.training import TrainConfig, example_document, train
from selfimprove_assets.lib.types import TrainingExample

NEW_KEYS = ("decoder", "single_value_labels", "word_shape", "line_boxes", "reading_order")


def _entities(predictor: ModelPredictor, examples: list[TrainingExample]) -> list[list[tuple]]:
    docs = [example_document(e) for e in examples]
    return [[(e.label, e.text, e.confidence) for e in ents] for ents in predictor.extract(docs)]


@pytest.fixture(scope="module")
def decoded(
    tiny_backbone: str, corpus: list[TrainingExample], fast_config: TrainConfig
) -> ModelBundle:
    config = fast_config.model_copy(
        update=dict(decoder="viterbi", single_value_labels=True, max_steps=4)
    )
    return train("extractor", corpus, backbone=tiny_backbone, config=config).bundle


def test_decoding_levers_flow_from_the_config_into_the_spec(
    decoded: ModelBundle, corpus: list[TrainingExample]
) -> None:
    assert decoded.spec.decoder == "viterbi"
    # every label of the tiny corpus occurs once per document
    assert decoded.spec.single_value_labels == ["date", "name", "total"]
    entities = ModelPredictor(decoded).extract([example_document(e) for e in corpus])
    for ents in entities:
        labels = [e.label for e in ents]
        assert len(labels) == len(set(labels)), labels


def test_a_warm_start_keeps_its_parents_decoding(
    decoded: ModelBundle, corpus: list[TrainingExample], fast_config: TrainConfig
) -> None:
    config = fast_config.model_copy(
        update=dict(max_steps=1)
    )  # the config's defaults do not override it
    child = train("extractor", corpus, parent=decoded, config=config).bundle
    assert child.spec.decoder == "viterbi"
    assert child.spec.single_value_labels == ["date", "name", "total"]


def test_the_decoder_is_stored_and_can_be_overridden_at_predict_time(
    decoded: ModelBundle, corpus: list[TrainingExample], tmp_path: Path
) -> None:
    loaded = ModelBundle.load(decoded.save(tmp_path / "bundle"))
    assert (loaded.spec.decoder, loaded.spec.single_value_labels) == (
        decoded.spec.decoder,
        decoded.spec.single_value_labels,
    )
    assert _entities(ModelPredictor(loaded), corpus) == _entities(ModelPredictor(decoded), corpus)
    spans = ModelPredictor(loaded, decoder="spans")
    assert spans.decoding == "spans" and ModelPredictor(loaded).decoding == "viterbi"
    with pytest.raises(ValueError, match="decoder must be one of"):
        ModelPredictor(loaded, decoder="beam")


def test_a_format_1_bundle_loads_and_predicts_as_before(
    trained: dict, corpus: list[TrainingExample], tmp_path: Path
) -> None:
    bundle = trained["extractor"].bundle
    directory = bundle.save(tmp_path / "old")
    spec_path = directory / SPEC_FILE
    data = json.loads(spec_path.read_text())
    assert data["format_version"] == FORMAT_VERSION
    for key in NEW_KEYS:
        del data[key]
    data["format_version"] = 1
    spec_path.write_text(json.dumps(data))
    old = ModelBundle.load(directory)
    assert (old.spec.decoder, old.spec.single_value_labels) == ("spans", None)
    assert not (old.spec.word_shape or old.spec.line_boxes)
    assert old.spec.reading_order == "given"
    assert old.featurizer.example_windows(corpus[0], 0)[0].shape_ids is None
    assert _entities(ModelPredictor(old), corpus) == _entities(ModelPredictor(bundle), corpus)


def test_a_bundle_from_a_newer_format_is_one_clear_error(trained: dict, tmp_path: Path) -> None:
    directory = trained["classifier"].bundle.save(tmp_path / "new")
    spec_path = directory / SPEC_FILE
    data = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**data, "format_version": 99, "graph_layer": True}))
    with pytest.raises(ValueError, match="cannot read: graph_layer"):
        ModelBundle.load(directory)

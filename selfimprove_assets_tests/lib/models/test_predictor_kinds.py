"""A predictor answers what its kind predicts: entities from an entity-level kind, a document's
type from a document-level one."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.models.inference import FP32, InferenceOptions
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.models.training import TrainResult, example_document
from selfimprove_assets.lib.types import TrainingExample


def test_a_predictor_answers_only_what_its_kind_predicts(
    trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    options = InferenceOptions(FP32, None)
    classifier = ModelPredictor(trained["classifier"].bundle, options=options)
    extractor = ModelPredictor(trained["extractor"].bundle, options=options)
    docs = [example_document(e) for e in corpus[:2]]

    with pytest.raises(TypeError, match="is a classifier, it does not predict entities"):
        classifier.extract(docs)
    with pytest.raises(TypeError, match="is a extractor, it does not predict document types"):
        extractor.classify(docs)
    with pytest.raises(TypeError):
        DocumentPredictor(extractor, None)
    with pytest.raises(TypeError):
        DocumentPredictor(None, classifier)

    assert set(classifier.predict_records(docs)[0]) == {"doc_type", "confidence", "probabilities"}
    assert set(extractor.predict_records(docs)[0]) == {"entities"}
    both = DocumentPredictor(classifier, extractor).predict(docs)
    assert [p.doc_type is not None for p in both] == [True, True]

"""Prediction over documents: the one code path used by evaluation, training and serving."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.classifier import ClassifierResult, classify, document_logits
from selfimprove_assets.lib.models.extractor import predict_entities
from selfimprove_assets.lib.models.featurizer import Window
from selfimprove_assets.lib.types import Entity, ModelType, PageWords, Prediction


class ModelPredictor:
    """Batched inference for one model (classifier or extractor) over ``PageWords``.

    Windows of all documents in a call are sorted by length and batched together, so a call
    with many documents pays little padding.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        name: str | None = None,
        version: str | None = None,
        batch_size: int = 16,
    ) -> None:
        self.bundle = bundle
        self.name = name
        self.version = version
        self.batch_size = batch_size

    @property
    def model_type(self) -> str:
        return self.bundle.model_type

    @property
    def labels(self) -> list[str]:
        return list(self.bundle.spec.labels)

    def _windows(self, documents: Sequence[PageWords]) -> list[Window]:
        windows: list[Window] = []
        for i, doc in enumerate(documents):
            windows.extend(self.bundle.featurizer.page_windows(doc, i))
        return windows

    def _require(self, model_type: ModelType) -> None:
        if self.model_type != model_type.value:
            raise TypeError(f"this predictor is a {self.model_type}, not a {model_type.value}")

    def classify(self, documents: Sequence[PageWords]) -> list[ClassifierResult]:
        self._require(ModelType.CLASSIFIER)
        if not documents:
            return []
        windows = self._windows(documents)
        logits = self.bundle.window_logits(windows, self.batch_size)
        doc_logits = document_logits(windows, logits, len(documents))
        return classify(doc_logits, self.bundle.spec.labels, self.bundle.spec.temperature)

    def extract(self, documents: Sequence[PageWords]) -> list[list[Entity]]:
        self._require(ModelType.EXTRACTOR)
        if not documents:
            return []
        windows = self._windows(documents)
        logits = self.bundle.window_logits(windows, self.batch_size)
        per_doc: list[list[int]] = [[] for _ in documents]
        for i, window in enumerate(windows):
            per_doc[window.doc_index].append(i)
        return [
            predict_entities(
                doc.words,
                [windows[i] for i in idx],
                [logits[i] for i in idx],
                self.bundle.spec.labels,
            )
            for doc, idx in zip(documents, per_doc, strict=True)
        ]

    def predict_records(self, documents: Sequence[PageWords]) -> list[dict[str, Any]]:
        """JSON-ready results (what the MLflow pyfunc returns)."""
        if self.model_type == ModelType.CLASSIFIER.value:
            return [
                {
                    "doc_type": r.doc_type,
                    "confidence": r.confidence,
                    "probabilities": r.probabilities,
                }
                for r in self.classify(documents)
            ]
        return [{"entities": [e.to_dict() for e in ents]} for ents in self.extract(documents)]


class DocumentPredictor:
    """Both models together: what the API and the evaluation call for each document."""

    def __init__(self, classifier: ModelPredictor | None, extractor: ModelPredictor | None) -> None:
        if classifier is not None:
            classifier._require(ModelType.CLASSIFIER)
        if extractor is not None:
            extractor._require(ModelType.EXTRACTOR)
        self.classifier = classifier
        self.extractor = extractor

    def predict(self, documents: Sequence[PageWords]) -> list[Prediction]:
        types = self.classifier.classify(documents) if self.classifier else [None] * len(documents)
        entities = self.extractor.extract(documents) if self.extractor else [[] for _ in documents]
        return [
            Prediction(
                doc_type=t.doc_type if t else None,
                doc_type_confidence=t.confidence if t else None,
                entities=ents,
                classifier_version=self.classifier.version if self.classifier else None,
                extractor_version=self.extractor.version if self.extractor else None,
            )
            for t, ents in zip(types, entities, strict=True)
        ]

    def predict_one(self, document: PageWords) -> Prediction:
        return self.predict([document])[0]

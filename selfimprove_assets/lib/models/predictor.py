"""Prediction over documents: the one code path used by evaluation, training and serving."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from selfimprove_assets.lib.automation.calibration import Calibrator
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.classifier import ClassifierResult, classify, document_logits
from selfimprove_assets.lib.models.decoding import check_decoder
from selfimprove_assets.lib.models.device import select_device
from selfimprove_assets.lib.models.extractor import predict_entities
from selfimprove_assets.lib.models.featurizer import Window
from selfimprove_assets.lib.models.inference import (
    InferenceOptions,
    classifier_windows,
    inference_module,
    parameter_versions,
    token_budget,
)
from selfimprove_assets.lib.types import Entity, PageWords, Prediction


class ModelPredictor:
    """Batched inference for one model (classifier or extractor) over ``PageWords``.

    Windows of all documents in a call are sorted by length and batched together, so a call
    with many documents pays little padding. The model runs in its inference form (LoRA
    merged, encoder in int8, classifier on each document's first tokens; see ``inference``),
    built with the predictor and rebuilt if the bundle's weights change (a predictor kept across
    training steps never predicts with stale weights). ``options`` defaults to the process
    settings (``InferenceOptions.from_env``); ``device`` to ``models.device.select_device()``
    (CUDA when present, else the CPU; ``SELFIMPROVE_DEVICE`` overrides). The bundle's own module
    stays where it is; results come back on the CPU. ``decoder`` overrides the extractor's
    decoder (``spec.decoder``) for this predictor, e.g. to compare both on one trained model.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        name: str | None = None,
        version: str | None = None,
        batch_size: int = 32,
        max_tokens: int | None = None,
        options: InferenceOptions | None = None,
        device: str | torch.device | None = None,
        decoder: str | None = None,
    ) -> None:
        self.bundle = bundle
        # how entities are decoded: the bundle's own (``spec.decoder``) unless overridden here
        self.decoder = check_decoder(decoder) if decoder is not None else None
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.options = options or InferenceOptions.from_env()
        self.device = select_device(device)
        self._lock = threading.Lock()
        self._module: torch.nn.Module | None = None
        self._module_key: tuple[int, ...] = ()
        # Built now, so that a served model's first request does not wait for them.
        self.inference_model()
        _ = self.featurizer_key

    @property
    def model_type(self) -> str:
        return self.bundle.model_type

    @property
    def labels(self) -> list[str]:
        return list(self.bundle.spec.labels)

    def windows(self, documents: Sequence[PageWords]) -> list[Window]:
        """Every window of ``documents`` (``doc_index`` is the position in the list)."""
        windows: list[Window] = []
        for i, doc in enumerate(documents):
            windows.extend(self.bundle.featurizer.page_windows(doc, i))
        return windows

    @functools.cached_property
    def featurizer_key(self) -> str:
        """Equal for two predictors whose featurizers cut documents into the same windows."""
        f = self.bundle.featurizer
        backend = getattr(f.tokenizer, "backend_tokenizer", None)
        rules = (
            backend.to_str()
            if backend is not None
            else json.dumps(f.tokenizer.get_vocab(), sort_keys=True)
        )
        geometry = (
            f.max_length, f.stride, f.cls_id, f.sep_id, f.pad_id,
            f.word_shape, f.line_boxes, f.reading_order,
        )  # fmt: skip
        return hashlib.sha256(f"{rules}|{geometry}".encode()).hexdigest()

    def inference_model(self) -> torch.nn.Module:
        """The module predictions run on, (re)built from the bundle's current weights."""
        key = parameter_versions(self.bundle.model)
        with self._lock:
            if self._module is None or key != self._module_key:
                self._module = inference_module(
                    self.bundle.model, self.options.precision, self.device
                )
                self._module_key = key
            return self._module

    def window_logits(self, windows: list[Window]) -> list[torch.Tensor]:
        """Logits per window from the inference model (what every prediction is made from).

        Batches hold up to ``batch_size`` windows and ``max_tokens`` padded tokens (by default
        ``inference.token_budget``: large activations are slow to allocate).
        """
        module = self.inference_model()
        max_tokens = self.max_tokens or token_budget(module)
        return self.bundle.window_logits(
            windows, self.batch_size, model=module, max_tokens=max_tokens
        )

    def classifier_inputs(
        self, documents: Sequence[PageWords], windows: list[Window] | None = None
    ) -> list[Window]:
        """The windows the classifier reads: each document's first tokens, or all windows."""
        return classifier_windows(
            self.windows(documents) if windows is None else windows,
            self.options.classifier_tokens,
            self.bundle.featurizer.sep_id,
        )

    def _require(self, *, entity_level: bool) -> None:
        """Entities come from an entity-level kind, a document's type from a document-level one."""
        if kind_of(self.model_type).entity_level != entity_level:
            wanted = "entities" if entity_level else "document types"
            raise TypeError(f"this predictor is a {self.model_type}, it does not predict {wanted}")

    def classify(
        self, documents: Sequence[PageWords], *, windows: list[Window] | None = None
    ) -> list[ClassifierResult]:
        """Types of ``documents``. ``windows``: their windows, already cut by a featurizer with
        the same ``featurizer_key`` (``DocumentPredictor`` tokenizes once for both models)."""
        self._require(entity_level=False)
        if not documents:
            return []
        windows = self.classifier_inputs(documents, windows)
        logits = self.window_logits(windows)
        doc_logits = document_logits(windows, logits, len(documents))
        return classify(doc_logits, self.bundle.spec.labels, self.bundle.spec.temperature)

    @property
    def decoding(self) -> str:
        """The decoder ``extract`` uses: the one given to the predictor, else the bundle's."""
        return self.decoder or self.bundle.spec.decoder

    def extract(
        self, documents: Sequence[PageWords], *, windows: list[Window] | None = None
    ) -> list[list[Entity]]:
        """Entities of ``documents`` (``windows`` as for ``classify``), decoded by
        ``decoding``, at most one per document of each of the spec's single-value labels."""
        self._require(entity_level=True)
        if not documents:
            return []
        windows = self.windows(documents) if windows is None else windows
        logits = self.window_logits(windows)
        per_doc: list[list[int]] = [[] for _ in documents]
        for i, window in enumerate(windows):
            per_doc[window.doc_index].append(i)
        decoded = [
            predict_entities(
                doc.words,
                [windows[i] for i in idx],
                [logits[i] for i in idx],
                self.bundle.spec.labels,
                decoder=self.decoding,
                single_value_labels=self.bundle.spec.single_value_labels or (),
                order=self.bundle.featurizer.page_order(doc),
            )
            for doc, idx in zip(documents, per_doc, strict=True)
        ]
        calibrator = Calibrator.from_dict(self.bundle.spec.calibration)
        if calibrator is None:
            return decoded
        return [[_calibrated(e, calibrator) for e in ents] for ents in decoded]

    def predict_records(self, documents: Sequence[PageWords]) -> list[dict[str, Any]]:
        """JSON-ready results (what the MLflow pyfunc returns)."""
        if not kind_of(self.model_type).entity_level:
            return [
                {
                    "doc_type": r.doc_type,
                    "confidence": r.confidence,
                    "probabilities": r.probabilities,
                }
                for r in self.classify(documents)
            ]
        return [{"entities": [e.to_dict() for e in ents]} for ents in self.extract(documents)]


def _calibrated(entity: Entity, calibrator: Calibrator) -> Entity:
    """The entity with its decoded confidence mapped to the chance it is right."""
    if entity.confidence is None:
        return entity
    return replace(entity, confidence=calibrator.apply(entity.label, entity.confidence))


class DocumentPredictor:
    """Both models together: what the API and the evaluation call for each document."""

    def __init__(self, classifier: ModelPredictor | None, extractor: ModelPredictor | None) -> None:
        if classifier is not None:
            classifier._require(entity_level=False)
        if extractor is not None:
            extractor._require(entity_level=True)
        self.classifier = classifier
        self.extractor = extractor

    def predict(self, documents: Sequence[PageWords]) -> list[Prediction]:
        windows = None
        if (
            documents
            and self.classifier is not None
            and self.extractor is not None
            and self.classifier.featurizer_key == self.extractor.featurizer_key
        ):
            windows = self.extractor.windows(documents)  # tokenized once for both models
        types = (
            self.classifier.classify(documents, windows=windows)
            if self.classifier
            else [None] * len(documents)
        )
        entities = (
            self.extractor.extract(documents, windows=windows)
            if self.extractor
            else [[] for _ in documents]
        )
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

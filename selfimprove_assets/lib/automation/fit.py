"""Fitting a version's straight-through rules on its training run's held-out data.

After the final decoder and the classifier's temperature, ``fit_automation`` predicts the
validation documents, fits the entity calibrator (``calibration``) on the raw decoded
confidences, chooses the cut-offs on the calibrated ones (``cutoffs``), learns the labels each
type must show from the training documents, and stores all of it, with the ECE and reliability
table before and after calibration, in the spec.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfimprove_assets.lib.automation.calibration import (
    Scored,
    entity_outcomes,
    expected_calibration_error,
    fit_calibrator,
    reliability_table,
)
from selfimprove_assets.lib.automation.cutoffs import choose_cutoffs, min_error_free
from selfimprove_assets.lib.defaults import AutomationSettings
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets.lib.models.tags import example_words
from selfimprove_assets.lib.types import PageWords, TrainingExample

DOC_TYPE = "doc_type"


def required_labels(examples: Sequence[TrainingExample], share: float) -> dict[str, list[str]]:
    """Per document type, the entity labels present in at least ``share`` of its documents."""
    by_type: dict[str, list[set[str]]] = {}
    for example in examples:
        labels = {e.label for e in example_truth(example)}
        by_type.setdefault(example.doc_type, []).append(labels)
    out: dict[str, list[str]] = {}
    for doc_type, docs in sorted(by_type.items()):
        counts: dict[str, int] = {}
        for labels in docs:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        out[doc_type] = sorted(k for k, n in counts.items() if n >= share * len(docs))
    return out


def _document(example: TrainingExample) -> PageWords:
    words = example_words(example)
    return PageWords(words=words, page_count=max(example.pages, default=0) + 1)


def held_out_outcomes(
    predictor: ModelPredictor, examples: Sequence[TrainingExample]
) -> list[Scored]:
    """Confidence (as the predictor reports it) and correctness of every held-out decision."""
    documents = [_document(e) for e in examples]
    if not kind_of(predictor.model_type).entity_level:
        results = predictor.classify(documents)
        return [
            Scored(DOC_TYPE, float(r.confidence), r.doc_type == e.doc_type)
            for r, e in zip(results, examples, strict=True)
        ]
    predicted = predictor.extract(documents)
    out: list[Scored] = []
    for entities, example in zip(predicted, examples, strict=True):
        out.extend(entity_outcomes(example_truth(example), entities))
    return out


def fit_spec(
    spec: ModelSpec,
    raw: Sequence[Scored],
    train_set: Sequence[TrainingExample],
    settings: AutomationSettings,
) -> dict[str, float]:
    """Store calibrator, cut-offs, required labels and report in ``spec``; the metrics back."""
    entity_level = kind_of(spec.model_type).entity_level
    calibrator = fit_calibrator(raw, settings.min_label_examples) if entity_level else None
    calibrated = calibrator.calibrate(raw) if calibrator is not None else list(raw)
    spec.calibration = calibrator.to_dict() if calibrator is not None and raw else None
    spec.cutoffs = choose_cutoffs(calibrated, settings.target_accuracy, settings.confidence)
    spec.required_labels = (
        required_labels(train_set, settings.required_share) if entity_level else {}
    )
    accepted = [
        s for s in calibrated if s.field in spec.cutoffs and s.confidence >= spec.cutoffs[s.field]
    ]
    ece_raw, ece = expected_calibration_error(raw), expected_calibration_error(calibrated)
    spec.automation_report = {
        "target_accuracy": settings.target_accuracy,
        "confidence": settings.confidence,
        "min_error_free": min_error_free(settings.target_accuracy, settings.confidence),
        "n_held_out": len(raw),
        "ece_raw": ece_raw,
        "ece": ece,
        "reliability": reliability_table(calibrated),
        "reliability_raw": reliability_table(raw),
        "held_out_automation": len(accepted) / len(raw) if raw else 0.0,
    }
    return {
        "val_ece": ece,
        "val_ece_raw": ece_raw,
        "val_automation_rate": spec.automation_report["held_out_automation"],
        "val_fields_with_cutoff": float(len(spec.cutoffs)),
    }


def fit_automation(
    predictor: ModelPredictor,
    val: Sequence[TrainingExample],
    train_set: Sequence[TrainingExample],
    settings: AutomationSettings | None = None,
) -> dict[str, float]:
    """Fit ``predictor``'s bundle's straight-through rules on ``val`` (see the module)."""
    settings = settings or AutomationSettings()
    spec = predictor.bundle.spec
    spec.calibration, spec.cutoffs = None, {}  # raw confidence, not a parent's calibration
    raw = held_out_outcomes(predictor, val) if val else []
    return fit_spec(spec, raw, train_set, settings)


def golden_automation(
    predictor: ModelPredictor, examples: Sequence[TrainingExample]
) -> float | None:
    """The share of ``predictor``'s decisions on ``examples`` its own cut-offs accept (the
    gauntlet's automation rate); None for a version without cut-offs."""
    spec = predictor.bundle.spec
    if not spec.cutoffs or not examples:
        return None
    scored = held_out_outcomes(predictor, examples)
    if not scored:
        return 0.0
    accepted = [
        s for s in scored if s.field in spec.cutoffs and s.confidence >= spec.cutoffs[s.field]
    ]
    return len(accepted) / len(scored)

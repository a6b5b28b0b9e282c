"""Score a model version on labeled examples (the golden set, a production slice, a folder).

Besides the usual accuracy and entity P/R/F1, a score carries the *field figures* a reviewer
would have produced: the same per-field outcome counts (unchanged / modified / added / removed)
that commits write to the live counters. Thresholds are based on those, so a freshly deployed
model's live accuracy and its threshold measure the same thing.

The truth is the labeled entities as written (:func:`example_truth`): every labeled entity
counts, including one that OCR or the alignment could not place on any word (a miss for every
model), and a predicted value matches when its label, page and normalized text
(:func:`selfimprove_assets.lib.text.normalize_text`, the live diff's rule) equal the labeled
value, not the OCR'd words under it.

:func:`compare_scores` pairs the default's and the candidate's scores document by document and
runs the paired test of the kind (``lib.evaluation.compare``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.diff import diff_entities
from selfimprove_assets.lib.evaluation.compare import (
    ClassificationRecord,
    ComparisonReport,
    ExtractionRecord,
    compare_classification,
    compare_extraction,
)
from selfimprove_assets.lib.kinds import ModelKind, kind_of
from selfimprove_assets.lib.metrics import (
    ClassificationReport,
    EntityReport,
    classification_report,
    entity_report,
)
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.tags import example_words
from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import Entity, PageWords, TrainingExample

OUTCOMES = ("unchanged", "modified", "added", "removed")


def example_page_words(example: TrainingExample) -> PageWords:
    words = example_words(example)
    pages = max((w.page for w in words), default=0) + 1
    return PageWords(words=words, page_count=pages)


@dataclass
class DocumentScore:
    """Per-document results, kept so that comparisons can pair and bootstrap documents."""

    document_id: str
    gold_type: str
    predicted_type: str | None = None
    per_label: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> tp/fp/fn


@dataclass
class ModelScore:
    model_type: str
    n_documents: int
    headline: float  # accuracy (classifier) or entity micro-F1 (extractor)
    report: ClassificationReport | EntityReport
    field_figures: dict[str, dict[str, int]]
    documents: list[DocumentScore]

    def field_accuracy(self) -> dict[str, float]:
        """Per-field accuracy as the monitor computes it: 1 - corrected / committed fields."""
        out: dict[str, float] = {}
        for name, counts in self.field_figures.items():
            total = sum(counts.get(k, 0) for k in OUTCOMES)
            if total:
                out[name] = counts.get("unchanged", 0) / total
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "n_documents": self.n_documents,
            "headline": self.headline,
            "report": self.report.to_dict(),
            "field_figures": self.field_figures,
            "field_accuracy": self.field_accuracy(),
        }


def _per_label_counts(truth: Sequence[Entity], pred: Sequence[Entity]) -> dict[str, dict[str, int]]:
    def key(e: Entity) -> tuple[str, int]:
        return (normalize_text(e.text), int(e.page))

    out: dict[str, dict[str, int]] = {}
    for label in sorted({e.label for e in truth} | {e.label for e in pred}):
        t = [key(e) for e in truth if e.label == label]
        p = [key(e) for e in pred if e.label == label]
        remaining = list(t)
        tp = 0
        for item in p:
            if item in remaining:
                remaining.remove(item)
                tp += 1
        out[label] = {"tp": tp, "fp": len(p) - tp, "fn": len(t) - tp}
    return out


def score(predictor: ModelPredictor, examples: Sequence[TrainingExample]) -> ModelScore:
    """Predict every example and score it against its labels."""
    if not examples:
        raise ValueError("cannot score a model on an empty set of documents")
    docs = [example_page_words(e) for e in examples]
    gold_types = [e.doc_type for e in examples]
    if not kind_of(predictor.model_type).entity_level:
        predicted = [r.doc_type for r in predictor.classify(docs)]
        report = classification_report(gold_types, predicted)
        wrong = sum(1 for g, p in zip(gold_types, predicted, strict=True) if g != p)
        figures = {"doc_type": {"unchanged": len(examples) - wrong, "modified": wrong}}
        documents = [
            DocumentScore(e.document_id, g, p)
            for e, g, p in zip(examples, gold_types, predicted, strict=True)
        ]
        return ModelScore("classifier", len(examples), report.accuracy, report, figures, documents)
    return score_extraction(examples, predictor.extract(docs))


def score_version(
    tracking_uri: str, model_type: str, version: str, examples: Sequence[TrainingExample]
) -> ModelScore:
    """Load one registered version of ``model_type`` from the registry and score it."""
    from selfimprove_assets.lib.models.names import model_uri
    from selfimprove_assets.lib.models.registry import load_predictor

    predictor = load_predictor(model_uri(model_type, version), tracking_uri)
    return score(predictor, examples)


def score_extraction(
    examples: Sequence[TrainingExample], predictions: Sequence[Sequence[Entity]]
) -> ModelScore:
    """Score an extractor's entities (one list per example) against the examples' truth."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} documents but {len(predictions)} predictions")
    truths = [example_truth(e) for e in examples]
    preds = [list(p) for p in predictions]
    ereport = entity_report(truths, preds)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    documents = []
    for example, truth, pred in zip(examples, truths, preds, strict=True):
        for label, counts in diff_entities(pred, truth).counts.items():
            for k in OUTCOMES:
                totals[label][k] += int(counts.get(k, 0))
        documents.append(
            DocumentScore(
                example.document_id, example.doc_type, per_label=_per_label_counts(truth, pred)
            )
        )
    return ModelScore(
        "extractor",
        len(examples),
        ereport.micro.f1,
        ereport,
        {k: dict(v) for k, v in totals.items()},
        documents,
    )


def compare_scores(
    model_type: str | ModelKind,
    default: ModelScore,
    candidate: ModelScore,
    *,
    dataset: str,
    n_boot: int,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> ComparisonReport:
    """Default vs candidate scored on the same documents, with the kind's paired test: an
    entity-level kind's per-label entity counts by paired bootstrap, a document-level kind's
    predicted type by McNemar's test."""
    pairs = list(zip(default.documents, candidate.documents, strict=True))
    if kind_of(model_type).entity_level:
        entity_records = [
            ExtractionRecord(d.document_id, d.per_label, c.per_label, d.gold_type) for d, c in pairs
        ]
        return compare_extraction(entity_records, dataset=dataset, n_boot=n_boot, groups=groups)
    type_records = [
        ClassificationRecord(d.document_id, d.gold_type, d.predicted_type, c.predicted_type)
        for d, c in pairs
    ]
    return compare_classification(type_records, dataset=dataset, n_boot=n_boot, groups=groups)


def trivial_headline(model_type: str | ModelKind, examples: Sequence[TrainingExample]) -> float:
    """The headline figure a model that learnt nothing gets on ``examples``.

    A classifier that always answers the most common type scores that type's share; an
    extractor that finds nothing (what a collapsed token classifier predicts: all ``O``)
    scores an entity F1 of 0.
    """
    return kind_of(model_type).trivial_headline(examples)


def learnt_something(
    model_type: str | ModelKind, headline: float, examples: Sequence[TrainingExample]
) -> str | None:
    """``None`` when ``headline`` beats the trivial model on ``examples``; else why not."""
    kind = kind_of(model_type)
    trivial = kind.trivial_headline(examples)
    if headline > trivial:
        return None
    return (
        f"the {kind.name} scores {kind.headline_label} {headline:.3f} on "
        f"{len(examples)} documents, no better than a model that learnt nothing "
        f"({trivial:.3f})"
    )

"""Model kinds: what differs between the model types, decided in one place.

The loop runs the same steps for every model type (monitor, curate, train, evaluate, promote).
Where the types differ, the code asks the type's :class:`ModelKind` (``kind_of(model_type)``)
instead of testing the type's name. The two kinds differ along one axis: the classifier predicts
one value per document (its single field ``doc_type``, a sequence head, scored by accuracy),
the extractor predicts entities (one field per entity label, a token head, scored by entity
micro-F1). On top of that each kind has a few policies of its own: whether its V1 fine-tunes
every weight and whether it calibrates its confidence.

A kind is facts and rules over plain data, so this module sits at the bottom of the import
graph next to ``lib/types``. The packages that do the work read the facts: the paired test
(``lib.evaluation.scoring.compare_scores``) and the curation sampler and its settings
(``lib.curation``) follow from whether a kind is entity-level.

Adding a model type (say a page-level table detector) is one new kind: a subclass with its
facts and rules, listed in :data:`KINDS`, and its name in ``types.MODEL_TYPES`` and
``types.ModelType`` (a test keeps them equal). A kind that is entity-level or document-level
needs nothing else; one with a new output shape also extends the data every type exchanges
(``Prediction``, the API's per-type payloads), which is the contract, not a decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from selfimprove_assets.lib.types import (
    MODEL_TYPES,
    ModelType,
    TrainingExample,
    bio_labels,
    labels_from_tags,
)


class VerifiedTypes(Protocol):
    """The store's answer a sensor needs: committed documents per verified type."""

    def verified_doc_types(self) -> dict[str, int]: ...


class DataSummary(Protocol):
    """What a kind reads of a training set (``lib.models.needs.DataSummary``)."""

    @property
    def doc_types(self) -> Mapping[str, int]: ...
    @property
    def entity_labels(self) -> Mapping[str, int]: ...
    @property
    def labeled_entities(self) -> int: ...
    @property
    def entities(self) -> int: ...
    @property
    def documents(self) -> int: ...


@dataclass(frozen=True)
class ModelKind(ABC):
    """One model type's facts and the rules that differ between types.

    ``document_field``: the one field a document-level kind predicts per document (its
    counters, thresholds and figures hold only that field); ``None`` for an entity-level kind,
    whose fields are its entity labels. ``headline_metric``: the golden-set figure a version is
    known by (metadata key ``golden_<metric>``); ``headline_label`` says it to people.
    ``class_noun``: what one of its classes is called ("type", "label"). ``v1_full_finetune``:
    its V1 trains every weight by default (warm starts stay LoRA adapters). ``calibrated``: it
    fits a temperature on validation so its confidence means what it says. ``registry_name``:
    its registered model in MLflow. ``not_needed_when``: the corpus that needs no such model.
    """

    name: str
    registry_name: str
    document_field: str | None
    headline_metric: str
    headline_label: str
    class_noun: str
    v1_full_finetune: bool
    calibrated: bool
    not_needed_when: str

    @property
    def entity_level(self) -> bool:
        """Its fields are entity labels, scored per entity (precision, recall, F1)."""
        return self.document_field is None

    @property
    def head(self) -> Literal["sequence", "token"]:
        """The model's head: one output per document (sequence) or per token."""
        return "token" if self.entity_level else "sequence"

    @property
    def headline_key(self) -> str:
        """The metadata key of the golden-set headline figure."""
        return f"golden_{self.headline_metric}"

    # ----------------------------------------------------------------------------- data

    @abstractmethod
    def class_counts(self, summary: DataSummary) -> Mapping[str, int]:
        """Training examples per class (document type or entity label)."""

    @abstractmethod
    def not_needed(self, summary: DataSummary) -> str | None:
        """``None`` when the data gives this kind something to learn; else why not."""

    @abstractmethod
    def reviewed_doc_types(self, store: VerifiedTypes) -> Mapping[str, int]:
        """Documents per type that committed reviews add to the training data, as far as
        deciding whether the kind is needed goes."""

    @abstractmethod
    def trivial_headline(self, examples: Sequence[TrainingExample]) -> float:
        """The headline figure a model that learnt nothing gets on ``examples``."""

    @abstractmethod
    def labels_from(self, examples: Sequence[TrainingExample]) -> list[str]:
        """The model's classes found in training examples (sorted)."""


@dataclass(frozen=True)
class ClassifierKind(ModelKind):
    """Document-level: one type per document, accuracy, McNemar's paired test."""

    def class_counts(self, summary: DataSummary) -> Mapping[str, int]:
        return summary.doc_types

    def not_needed(self, summary: DataSummary) -> str | None:
        if len(summary.doc_types) >= 2:
            return None
        if not summary.doc_types:
            return "the training set holds no documents, so there is no document type to learn"
        (only, n), *_ = summary.doc_types.items()
        return (
            f"every training document ({n}) has the type {only!r}: with one type there is "
            "nothing to classify; the classifier joins when a second type appears (a later "
            "ingest, or reviewers' verified types)"
        )

    def reviewed_doc_types(self, store: VerifiedTypes) -> Mapping[str, int]:
        return store.verified_doc_types()

    def trivial_headline(self, examples: Sequence[TrainingExample]) -> float:
        """The most common type's share: what always answering that type scores."""
        if not examples:
            return 0.0
        counts = Counter(e.doc_type for e in examples)
        return max(counts.values()) / len(examples)

    def labels_from(self, examples: Sequence[TrainingExample]) -> list[str]:
        return sorted({e.doc_type for e in examples})


@dataclass(frozen=True)
class ExtractorKind(ModelKind):
    """Entity-level: BIO tags per word, entity micro-F1, paired bootstrap test."""

    def class_counts(self, summary: DataSummary) -> Mapping[str, int]:
        return summary.entity_labels

    def not_needed(self, summary: DataSummary) -> str | None:
        if summary.entities > 0 or summary.labeled_entities > 0:
            return None  # labeled but never aligned: needed, and the diagnosis says why it fails
        return (
            f"none of the {summary.documents} training documents has a labeled entity: there "
            "is nothing to extract; the extractor joins when labeled entities appear"
        )

    def reviewed_doc_types(self, store: VerifiedTypes) -> Mapping[str, int]:
        """Nothing: reviews' entities are only read when curating (a baseline makes it join)."""
        return {}

    def trivial_headline(self, examples: Sequence[TrainingExample]) -> float:
        """0: a model that finds nothing (all ``O``, what a collapsed one predicts)."""
        return 0.0

    def labels_from(self, examples: Sequence[TrainingExample]) -> list[str]:
        return bio_labels(labels_from_tags([e.word_tags for e in examples]))


CLASSIFIER = ClassifierKind(
    name=ModelType.CLASSIFIER.value,
    registry_name="doc-classifier",
    document_field="doc_type",
    headline_metric="accuracy",
    headline_label="accuracy",
    class_noun="type",
    v1_full_finetune=False,
    calibrated=True,
    not_needed_when="a corpus with a single document type",
)
EXTRACTOR = ExtractorKind(
    name=ModelType.EXTRACTOR.value,
    registry_name="entity-extractor",
    document_field=None,
    headline_metric="micro_f1",
    headline_label="entity micro-F1",
    class_noun="label",
    v1_full_finetune=True,
    calibrated=False,
    not_needed_when="a corpus without labeled entities",
)

KINDS: dict[str, ModelKind] = {k.name: k for k in (CLASSIFIER, EXTRACTOR)}
"""Every model kind by type name, in ``MODEL_TYPES`` order."""


def kind_of(model_type: str | ModelKind) -> ModelKind:
    """The kind of ``model_type`` (a type name, a ``ModelType``, or a kind already)."""
    if isinstance(model_type, ModelKind):
        return model_type
    kind = KINDS.get(str(model_type))
    if kind is None:
        raise ValueError(f"unknown model type {model_type!r}: one of {', '.join(MODEL_TYPES)}")
    return kind


def full_finetune_types() -> list[str]:
    """The types whose V1 fine-tunes every weight by default (the trainer resource's default)."""
    return [k.name for k in KINDS.values() if k.v1_full_finetune]


def entity_level_types() -> list[str]:
    """The types whose fields are entity labels."""
    return [k.name for k in KINDS.values() if k.entity_level]


def document_type_kind() -> ModelKind:
    """The kind whose predictions and reviews hold the document's type (its field is
    ``doc_type``): the store reads predicted and verified types from its rows."""
    return next(k for k in KINDS.values() if k.document_field == "doc_type")

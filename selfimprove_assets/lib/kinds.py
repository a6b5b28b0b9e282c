"""Model kinds: what differs between the model types, decided in one place.

The loop runs the same steps for every model type (monitor, curate, train, evaluate, promote).
Where the types differ, the code asks the type's :class:`ModelKind` (``kind_of(model_type)``)
instead of testing the type's name. The two kinds differ along one axis: the classifier predicts
one value per document (its single field ``doc_type``, a sequence head, scored by accuracy),
the extractor predicts entities (one field per entity label, a token head, scored by entity
micro-F1). On top of that each kind has a few policies of its own: whether its V1 fine-tunes
every weight, whether it calibrates its confidence, how curation draws its rows and which
paired test compares a candidate with the default.

Adding a model type (say a page-level table detector) is one new kind: a subclass with its
facts and behaviours, listed in :data:`KINDS`, and its name in ``types.MODEL_TYPES`` and
``types.ModelType`` (a test keeps them equal). A kind that is entity-level or document-level
needs nothing else; one with a new output shape also extends the data every type exchanges
(``Prediction``, the API's per-type payloads), which is the contract, not a decision.

Heavy modules (numpy, pandas, torch) are imported inside the methods, so this module sits at
the bottom of the import graph next to ``lib/types``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol

from selfimprove_assets.lib.types import (
    MODEL_TYPES,
    ModelType,
    TrainingExample,
    bio_labels,
    labels_from_tags,
)

if TYPE_CHECKING:
    import pandas as pd

    from selfimprove_assets.lib.curation.result import (
        ClassifierCurationConfig,
        CurationResult,
        ExtractorCurationConfig,
    )
    from selfimprove_assets.lib.evaluation.compare import ComparisonReport


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


class DocumentScore(Protocol):
    """One document's result (``lib.evaluation.scoring.DocumentScore``)."""

    @property
    def document_id(self) -> str: ...
    @property
    def gold_type(self) -> str: ...
    @property
    def predicted_type(self) -> str | None: ...
    @property
    def per_label(self) -> dict[str, dict[str, int]]: ...


ScorePair = tuple[DocumentScore, DocumentScore]
"""One document's result under the default and under the candidate."""
Groups = Mapping[str, Sequence[str]] | None


class ModelScore(Protocol):
    """A version's per-document results (``lib.evaluation.scoring.ModelScore``)."""

    @property
    def documents(self) -> Sequence[DocumentScore]: ...


@dataclass(frozen=True)
class ModelKind(ABC):
    """One model type's facts and the behaviours that differ between types.

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

    # ---------------------------------------------------------------------- the loop

    def compare(
        self,
        default: ModelScore,
        candidate: ModelScore,
        *,
        dataset: str,
        n_boot: int,
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> ComparisonReport:
        """Default vs candidate scored on the same documents: the kind's paired comparison."""
        pairs = list(zip(default.documents, candidate.documents, strict=True))
        return self._compare_pairs(pairs, dataset, n_boot, groups)

    @abstractmethod
    def _compare_pairs(
        self, pairs: list[ScorePair], dataset: str, n_boot: int, groups: Groups
    ) -> ComparisonReport:
        """The kind's paired test on each document's (default, candidate) results."""

    @abstractmethod
    def curation_config_type(self) -> type[ClassifierCurationConfig | ExtractorCurationConfig]:
        """The class of the kind's curation settings."""

    def curation_config(
        self, knobs: Mapping[str, Any]
    ) -> ClassifierCurationConfig | ExtractorCurationConfig:
        """The kind's curation settings from operator knobs (those it does not use ignored)."""
        cls = self.curation_config_type()
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in knobs.items() if k in names})

    def curate(
        self,
        frame: pd.DataFrame,
        underperforming: list[str],
        config: ClassifierCurationConfig | ExtractorCurationConfig,
    ) -> CurationResult:
        """Draw the retraining set from committed feedback (``underperforming``: fields below
        their threshold); ``config`` must be the kind's own curation settings."""
        cls = self.curation_config_type()
        if not isinstance(config, cls):
            article = "an" if cls.__name__[0] in "AEIOU" else "a"
            raise TypeError(f"the {self.name} curates with {article} {cls.__name__}, not {config}")
        return self._sample(frame, underperforming, config)

    @abstractmethod
    def _sample(
        self, frame: pd.DataFrame, underperforming: list[str], config: Any
    ) -> CurationResult:
        """The kind's sampler, given its own curation settings."""


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

    def _compare_pairs(
        self, pairs: list[ScorePair], dataset: str, n_boot: int, groups: Groups
    ) -> ComparisonReport:
        """McNemar and bootstrap on the documents' predicted types."""
        from selfimprove_assets.lib.evaluation.compare import (
            ClassificationRecord,
            compare_classification,
        )

        records = [
            ClassificationRecord(d.document_id, d.gold_type, d.predicted_type, c.predicted_type)
            for d, c in pairs
        ]
        return compare_classification(records, dataset=dataset, n_boot=n_boot, groups=groups)

    def curation_config_type(self) -> type[ClassifierCurationConfig]:
        from selfimprove_assets.lib.curation.result import ClassifierCurationConfig

        return ClassifierCurationConfig

    def _sample(
        self, frame: pd.DataFrame, underperforming: list[str], config: ClassifierCurationConfig
    ) -> CurationResult:
        """Corrected rows plus a share of correct ones (``underperforming`` is not used)."""
        from selfimprove_assets.lib.curation.sampling import curate_classifier

        return curate_classifier(frame, config)


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

    def _compare_pairs(
        self, pairs: list[ScorePair], dataset: str, n_boot: int, groups: Groups
    ) -> ComparisonReport:
        """Paired bootstrap on the documents' per-label entity counts."""
        from selfimprove_assets.lib.evaluation.compare import ExtractionRecord, compare_extraction

        records = [
            ExtractionRecord(d.document_id, d.per_label, c.per_label, d.gold_type) for d, c in pairs
        ]
        return compare_extraction(records, dataset=dataset, n_boot=n_boot, groups=groups)

    def curation_config_type(self) -> type[ExtractorCurationConfig]:
        from selfimprove_assets.lib.curation.result import ExtractorCurationConfig

        return ExtractorCurationConfig

    def _sample(
        self, frame: pd.DataFrame, underperforming: list[str], config: ExtractorCurationConfig
    ) -> CurationResult:
        """Documents drawn by entity-precision bucket (``underperforming``: labels to focus on)."""
        from selfimprove_assets.lib.curation.sampling import curate_extractor

        return curate_extractor(frame, underperforming, config)


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

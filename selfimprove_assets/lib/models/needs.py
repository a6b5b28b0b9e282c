"""Whether a model type has anything to learn from the data, and why a V1 learnt nothing.

A corpus with one document type needs no classifier (there is nothing to tell apart), and a
corpus whose documents carry no labeled entities needs no extractor. Each kind states its
rule (``lib.kinds``, ``ModelKind.not_needed``); this module is where it is asked: the baseline
asset asks it before training, the sensors ask it again when reviewers' verified documents
arrive (a second type makes the classifier needed).

When a needed model did train and still scores no better than a model that learnt nothing,
:func:`diagnose_no_learning` says why in terms of the data and what to do about it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.kinds import ModelKind, kind_of
from selfimprove_assets.lib.types import TrainingExample

TRAINING_DATA_KEY = "training_data"
"""Where a baseline's metadata and a deployed version's metrics keep its ``DataSummary``."""
MIN_EXAMPLES_PER_LABEL = 5
"""Fewer training examples than this per type or entity label rarely teach a model the label."""


@dataclass(frozen=True)
class DataSummary:
    """What a training set holds, as far as deciding and diagnosing goes.

    ``doc_types``: documents per type; ``entity_labels``: entities per label (``B-`` tags, one
    per aligned entity); ``labeled_entities``: entities as labeled, aligned or not (0 when the
    examples do not carry them). Sensors build it from the store without reading any page.
    """

    doc_types: Mapping[str, int] = field(default_factory=dict)
    entity_labels: Mapping[str, int] = field(default_factory=dict)
    labeled_entities: int = 0

    @property
    def documents(self) -> int:
        return sum(self.doc_types.values())

    @property
    def entities(self) -> int:
        return sum(self.entity_labels.values())

    @classmethod
    def of(cls, examples: Iterable[TrainingExample]) -> DataSummary:
        types: Counter[str] = Counter()
        labels: Counter[str] = Counter()
        labeled = 0
        for example in examples:
            types[example.doc_type] += 1
            labels.update(t[2:] for t in example.word_tags if t.startswith("B-"))
            labeled += len(example.entities or ())
        return cls(dict(types), dict(labels), labeled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_types": dict(self.doc_types),
            "entity_labels": dict(self.entity_labels),
            "labeled_entities": self.labeled_entities,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DataSummary | None:
        """The summary a baseline recorded (``None`` when it recorded none)."""
        if not isinstance(data, Mapping) or "doc_types" not in data:
            return None
        return cls(
            {str(k): int(v) for k, v in (data.get("doc_types") or {}).items()},
            {str(k): int(v) for k, v in (data.get("entity_labels") or {}).items()},
            int(data.get("labeled_entities") or 0),
        )

    @property
    def only_type(self) -> str | None:
        """The document type when there is exactly one (what serving answers without a
        classifier)."""
        return next(iter(self.doc_types)) if len(self.doc_types) == 1 else None

    def merged(self, other: DataSummary) -> DataSummary:
        types = Counter(self.doc_types)
        types.update(other.doc_types)
        labels = Counter(self.entity_labels)
        labels.update(other.entity_labels)
        return DataSummary(
            dict(types), dict(labels), self.labeled_entities + other.labeled_entities
        )

    def rare(
        self, model_type: str | ModelKind, minimum: int = MIN_EXAMPLES_PER_LABEL
    ) -> dict[str, int]:
        """Types (classifier) or entity labels (extractor) with fewer than ``minimum`` examples."""
        counts = kind_of(model_type).class_counts(self)
        return {k: n for k, n in sorted(counts.items()) if n < minimum}


def _summary(data: DataSummary | Sequence[TrainingExample]) -> DataSummary:
    return data if isinstance(data, DataSummary) else DataSummary.of(data)


def model_needed(
    model_type: str | ModelKind, data: DataSummary | Sequence[TrainingExample]
) -> str | None:
    """``None`` when ``model_type`` has something to learn from ``data``; else why it is not
    needed (a sentence for people: the CLI prints it and the baseline's metadata keeps it).
    The rule is the kind's (``ModelKind.not_needed``)."""
    return kind_of(model_type).not_needed(_summary(data))


def _names(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} ({n})" for k, n in counts.items())


def diagnose_no_learning(
    model_type: str | ModelKind,
    training: DataSummary | Sequence[TrainingExample],
    *,
    predicted_types: Sequence[str | None] = (),
    predicted_entities: int | None = None,
) -> str:
    """Why a model scored no better than one that learnt nothing, and what to do about it.

    ``predicted_types`` (classifier) / ``predicted_entities`` (extractor): what the model said
    on the documents it was scored on, to tell a collapse onto one answer from a weak model.
    """
    summary = _summary(training)
    kind = kind_of(model_type)
    causes: list[str] = []
    actions: list[str] = []
    not_needed = model_needed(kind, summary)
    if not_needed:
        return f"{not_needed}. Nothing to train until the data holds what the model learns"
    rare = summary.rare(kind)
    if not kind.entity_level:
        distinct = {t for t in predicted_types if t is not None}
        if predicted_types and len(distinct) == 1:
            causes.append(
                f"it answers {next(iter(distinct))!r} for every document it was scored on "
                "(collapse onto one class)"
            )
        if rare:
            causes.append(
                f"types with fewer than {MIN_EXAMPLES_PER_LABEL} training documents: "
                + _names(rare)
            )
            actions.append("add documents of those types, or merge them into a related type")
    else:
        if summary.labeled_entities > summary.entities:
            causes.append(
                f"only {summary.entities} of the {summary.labeled_entities} labeled entities "
                "were aligned to page words (the rest teach nothing)"
            )
        if predicted_entities == 0:
            causes.append(
                "it predicts no entity at all on the documents it was scored on (collapse "
                "onto 'O', the no-entity tag)"
            )
        if rare:
            causes.append(
                f"labels with fewer than {MIN_EXAMPLES_PER_LABEL} training entities: "
                + _names(rare)
            )
            actions.append(
                "add documents with those labels, or merge rare labels into related ones"
            )
        actions.append(
            "check the alignment coverage in the labeled_corpus materialization (labeled "
            "entities that match no page words are lost to training)"
        )
    if not rare:
        causes.append(
            f"the data looks sufficient ({summary.documents} training documents, every "
            + kind.class_noun
            + f" with at least {MIN_EXAMPLES_PER_LABEL} examples), so training did not converge"
        )
        actions.append(
            "lower the learning rate or train more epochs (trainer resource) and retrain"
        )
    return "; ".join(causes) + ". What to do: " + "; ".join(actions)

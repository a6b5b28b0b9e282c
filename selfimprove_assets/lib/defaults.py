"""The loop's knobs and their defaults, by section: each knob is declared here once.

Every section is a pydantic model whose fields carry the default, the validation and the
description. ``lib.settings`` reads them from ``SELFIMPROVE_*`` variables and
``selfimprove.toml``; the Dagster config classes (``defs.schema``), the UI's view of the rules,
the trainer resource, the training job's document, ``TrainConfig`` and ``selfimprove settings``
are derived from these classes. A new knob is one field line in its section. The defaults are
the values the demo and the loop tests run. Plain values only: nothing heavy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfimprove_assets.lib import kinds
from selfimprove_assets.lib.types import MODEL_TYPES

TRIGGER_FIELDS = "trigger fields"  # the promotion policy's token for the fields that triggered

TriggerTest = Literal["pooled", "each"]
SelectOn = Literal["val_f1", "val_loss"]
LoraLayers = Literal["all_linear", "query_value"]
Precision = Literal["int8", "fp32"]
Decoder = Literal["spans", "viterbi"]
# where a required improvement may be shown: either set, both, or only one of them
EvidenceRule = Literal["either", "both", "production", "golden"]
# what makes a drop beyond its tolerance a regression: a significant paired test, or the point
RegressionTest = Literal["significant", "point"]
EVIDENCE_RULES: tuple[str, ...] = get_args(EvidenceRule)
REGRESSION_TESTS: tuple[str, ...] = get_args(RegressionTest)
TRIGGER_TESTS: tuple[str, ...] = get_args(TriggerTest)
SELECT_ON: tuple[str, ...] = get_args(SelectOn)
LORA_LAYERS: tuple[str, ...] = get_args(LoraLayers)
PRECISIONS: tuple[str, ...] = get_args(Precision)
BUCKETS: tuple[str, ...] = ("low", "medium", "high")


class Section(BaseModel):
    """A settings section: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def plain(self) -> dict[str, Any]:
        """The values as TOML/JSON would write them (tuples as lists, mappings as dicts)."""
        return self.model_dump(mode="json")


class MonitorSettings(Section):
    """The accuracy sensors' evidence rules (``lib.monitor.trigger.evaluate_trigger``)."""

    min_commits: int = Field(
        default=30,
        ge=0,
        description="Committed documents since the default was deployed before a "
        "field may trigger a retrain.",
    )
    min_corrections: int = Field(
        default=60,
        ge=0,
        description="Corrections the fields below their threshold must hold before a "
        "retrain: a dozen errors prove a drop but rarely teach a candidate enough to show a "
        "significant gain (the demo retrained too early with 0).",
    )
    decision_power: float | None = Field(
        default=0.8,
        ge=0.5,
        lt=1.0,
        description="Power of the production slice's test to show a candidate closing the gap "
        "between the live figure and the threshold (at [promotion] alpha); the sensor waits for "
        "the reviewed documents that give the slice this power. None: trigger on detection alone.",
    )
    slice_share: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of the reviewed documents that curation holds out as the production "
        "slice (the retraining set's holdout fraction), for the power calculation.",
    )
    min_slice_documents: int = Field(
        default=20,
        ge=0,
        description="The production slice holds at least this many documents before a retrain "
        "may start.",
    )
    rearm_ratio: float = Field(
        default=1.0,
        gt=0,
        description="After a rejection the sensor re-arms by itself (the next attempt of the "
        "cycle, on all the corrections so far) once this many times the documents the rejected "
        "attempt used have been committed since.",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Rejected automatic attempts of a cycle before the loop stops, alerts and "
        "waits for an operator (a reset or a manual re-run starts the count again).",
    )


class ThresholdSettings(Section):
    """The thresholds a new default (V1 or a promoted candidate) gets, per field."""

    margin: float = Field(
        default=0.05,
        ge=0,
        description="Below the new default's golden-set field figures (room for noise).",
    )
    floor: float = Field(
        default=0.5,
        ge=0,
        le=0.99,
        description="The lowest threshold: the team's quality target "
        "(thresholds are capped at 0.99). A default below it keeps collecting corrections into "
        "retrains until a candidate reaches it.",
    )


class PromotionSettings(Section):
    """When a candidate may replace the default (``lib.promotion.policy.PromotionPolicy``)."""

    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of the paired tests."
    )
    golden_tolerance: float = Field(
        default=0.01, ge=0, description="Largest drop of the overall golden-set figure."
    )
    critical: Mapping[str, float] = Field(
        default_factory=dict,
        description="Critical labels or document types and the largest drop each may show.",
    )
    require_significant_improvement_on: tuple[str, ...] = Field(
        default=(TRIGGER_FIELDS,),
        description="Fields that must improve significantly on production "
        f"('{TRIGGER_FIELDS}': those that triggered the retrain); empty: promote on "
        "non-regression alone.",
    )
    production_tolerance: float | None = Field(
        default=None,
        ge=0,
        description="Largest drop of the overall production figure (none: unchecked).",
    )
    trigger_test: TriggerTest = Field(
        default="pooled", description="pooled (one test of the trigger fields together) or each."
    )
    trigger_field_tolerance: float = Field(
        default=0.02,
        ge=0,
        description="pooled: largest drop of any one trigger field on production.",
    )
    bootstrap: int = Field(default=1000, ge=1, description="Bootstrap resamples for the intervals.")

    rule: EvidenceRule = Field(
        default="either",
        description="Where a required improvement may be shown: either (a significant gain on "
        "the golden set or on the production slice), both, production or golden; no significant "
        "regression on both sets, always.",
    )
    regression: RegressionTest = Field(
        default="significant",
        description="What makes a drop beyond its tolerance a regression: significant (the "
        "one-sided paired test says the candidate is worse at alpha) or point (any point drop).",
    )

    @field_validator("critical")
    @classmethod
    def _tolerances(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        if any(v < 0 for v in value.values()):
            raise ValueError("every tolerance must be >= 0")
        return value

    def policy_dict(self) -> dict[str, Any]:
        """The keys of ``PromotionPolicy.from_dict`` (everything but ``bootstrap``)."""
        return self.model_dump(mode="json", exclude={"bootstrap"})


class TrainingRecipe(Section):
    """The knobs of one training run that an operator sets; ``TrainConfig`` (the run's whole
    recipe, ``lib.models.recipe``) inherits them, so each is declared here alone."""

    epochs: int = Field(
        default=15,
        ge=1,
        description="Epochs at most; early stopping ends sooner, few documents get min_steps.",
    )
    patience: int = Field(
        default=3, ge=1, description="Evaluations without improvement before stopping."
    )
    batch_size: int = Field(default=8, ge=1, description="Training batch size.")
    learning_rate: float = Field(
        default=2e-3,
        ge=0,
        description="Rate of the LoRA adapters and the fresh head (0 freezes them).",
    )
    full_learning_rate: float = Field(
        default=2e-4, ge=0, description="The encoder in a full fine-tune."
    )
    head_lr_multiplier: float = Field(
        default=1.0, gt=0, description="The fresh head trains at learning_rate x this."
    )
    outside_weight: float = Field(
        default=0.5, gt=0, description="Extractor loss weight of the O class (entities weigh 1)."
    )
    warmup_steps: int = Field(
        default=20, ge=0, description="Warm-up steps at least (at most half the run)."
    )
    min_steps: int = Field(
        default=150,
        ge=0,
        description="Optimizer steps a V1 makes at least; no early stop before them.",
    )
    select_on: SelectOn = Field(
        default="val_f1", description="Which validation figure keeps an epoch: val_f1 or val_loss."
    )
    max_length: int = Field(default=256, ge=1, description="Tokens per window.")
    lora_layers: LoraLayers = Field(
        default="all_linear",
        description="LoRA placement of a V1: all_linear (attention + feed-forward) or query_value.",
    )
    lora_dropout: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Dropout on the LoRA adapters' input (V1; candidates keep their parent's).",
    )
    train_2d_embeddings: bool = Field(
        default=False,
        description="V1 also trains the 2-D box embeddings (they overfit small data).",
    )
    decoder: Decoder = Field(
        default="spans",
        description="How a new extractor V1 decodes entities: spans (span voting) or viterbi "
        "(the most probable valid BIO path; see docs/real-documents.md). A warm start keeps "
        "its parent's.",
    )
    single_value_labels: bool = Field(
        default=False,
        description="A new extractor V1 learns the labels that occur at most once in every "
        "training document and predicts each at most once per document (its most confident "
        "span). A warm start keeps its parent's choice and relearns the labels.",
    )


class TrainingSettings(TrainingRecipe):
    """The training recipe and which run a launch makes: the trainer resource's fields and the
    defaults of ``TrainConfig``; ``run_recipe`` resolves one run's knobs."""

    warm_start_epochs: int | None = Field(
        default=5,
        ge=1,
        description="Epochs at most of a candidate (it starts trained); none: epochs.",
    )
    classifier_epochs: int | None = Field(
        default=6,
        ge=1,
        description="Epochs at most of the classifier (it converges in a few); none: epochs.",
    )
    full_finetune_types: tuple[str, ...] = Field(
        default_factory=lambda: tuple(kinds.full_finetune_types()),
        description="Model types whose V1 trains every encoder weight (their candidates stay "
        "LoRA adapters on top of it).",
    )
    warm_start_min_steps: int = Field(
        default=150,
        ge=0,
        description="The min_steps floor of a candidate (0: its epoch cap alone); "
        "on a few dozen corrected real documents a candidate's epochs make few steps.",
    )

    @field_validator("full_finetune_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(MODEL_TYPES)
        if unknown:
            raise ValueError(f"unknown model types {sorted(unknown)}")
        return value

    def run_recipe(self, model_type: str, *, warm_start: bool) -> dict[str, Any]:
        """One run's ``TrainConfig`` knobs: the epoch cap of its kind and start, its step floor,
        and whether it fine-tunes in full (a V1 of ``full_finetune_types`` only)."""
        recipe = {name: getattr(self, name) for name in TrainingRecipe.model_fields}
        epochs = self.epochs
        if not kinds.kind_of(model_type).entity_level and self.classifier_epochs:
            epochs = min(epochs, self.classifier_epochs)
        if warm_start and self.warm_start_epochs:
            epochs = min(self.warm_start_epochs, epochs)
        recipe["epochs"] = epochs
        recipe["min_steps"] = self.warm_start_min_steps if warm_start else self.min_steps
        recipe["full_finetune"] = not warm_start and model_type in self.full_finetune_types
        return recipe


class CurationSettings(Section):
    """How a retraining set is drawn from the committed feedback (``lib.curation``): the
    launchpad of the curation assets starts from these; the extractor also draws by entity
    precision bucket (low < bucket_edges[0] <= medium < bucket_edges[1] <= high)."""

    non_corrected_sample_ratio: float = Field(
        default=1.0, ge=0, description="Correct rows drawn per corrected row (anti-forgetting)."
    )
    replay_share: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="The final set's share replayed from the original training set.",
    )
    holdout_fraction: float = Field(
        default=0.25,
        ge=0,
        lt=1,
        description="The most recent production rows, held out for evaluation.",
    )
    bucket_rates: Mapping[str, float] = Field(
        default_factory=lambda: {"low": 1.0, "medium": 0.7, "high": 0.4},
        description="Extractor: the share of each precision bucket's documents drawn.",
    )
    bucket_edges: tuple[float, float] = Field(
        default=(0.6, 0.85), description="Extractor: the entity precision edges of the buckets."
    )
    focus_underperforming: bool = Field(
        default=True, description="Extractor: always keep errors on under-performing labels."
    )
    exclude_suspicious: bool = Field(
        default=True, description="Leave out feedback the quality checks flag."
    )
    seed: int = Field(default=0, description="Sampling seed.")

    @field_validator("bucket_rates")
    @classmethod
    def _rates(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        if set(value) != set(BUCKETS):
            raise ValueError(f"bucket_rates needs exactly {list(BUCKETS)}, got {dict(value)}")
        for name, rate in value.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"bucket_rates[{name!r}] must be in [0, 1], got {rate}")
        return value

    @field_validator("bucket_edges")
    @classmethod
    def _edges(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0.0 < lo < hi <= 1.0:
            raise ValueError(f"bucket_edges must satisfy 0 < low < high <= 1, got {value}")
        return value


class CorpusSettings(Section):
    """The golden test set split at ingestion (``lib.documents.corpus.split_corpus``)."""

    test_fraction: float = Field(
        default=0.25, ge=0, lt=1, description="Share of documents held out as the golden test set."
    )
    seed: int = Field(default=0, description="Seed of the stratified split.")


class InferenceSettings(Section):
    """How the models read documents when they predict (``lib.models.inference``)."""

    precision: Precision = Field(
        default="int8",
        description="int8: dynamic quantization of the encoder; fp32: the float32 "
        "module (LoRA still merged).",
    )
    classifier_tokens: int | None = Field(
        default=128,
        ge=0,
        description="Tokens the classifier reads from the top of a document, in "
        "training and prediction alike; 0 or none: every window.",
    )

    @field_validator("classifier_tokens", mode="before")
    @classmethod
    def _every_window(cls, value: Any) -> Any:
        return (
            None if isinstance(value, str) and value.strip().lower() in ("all", "full") else value
        )


class ModelsSettings(Section):
    """Which backbone each model type starts from (``lib.models.families``): a local Hugging
    Face folder whose ``config.model_type`` picks the family; empty: the top-level ``backbone``.
    Changing it takes effect at the next V1 of that type (warm starts stay within a family)."""

    classifier_backbone: str = Field(
        default="", description="Backbone of the classifier; empty: the default backbone."
    )
    extractor_backbone: str = Field(
        default="", description="Backbone of the extractor; empty: the default backbone."
    )


class AutomationSettings(Section):
    """Straight-through processing: which predictions are accepted without a reviewer
    (``lib.automation``)."""

    target_accuracy: float = Field(
        default=0.98,
        gt=0,
        lt=1,
        description="Accuracy the auto-accepted fields must reach, by a one-sided lower "
        "confidence bound on the version's held-out calibration data.",
    )
    confidence: float = Field(
        default=0.95, gt=0, lt=1, description="Confidence of that one-sided lower bound."
    )
    qa_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of straight-through documents sent to reviewers anyway, drawn at "
        "random, to measure the accuracy of what is auto-accepted.",
    )
    min_label_examples: int = Field(
        default=50,
        ge=1,
        description="Held-out entities of a label needed to calibrate it on its own "
        "(fewer: the pooled calibrator).",
    )
    required_share: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="A label present in at least this share of a type's training documents "
        "must be predicted for a document to go straight through.",
    )
    gauntlet_tolerance: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest drop of the field automation rate on the golden set a candidate "
        "may show and still be promoted.",
    )


SECTIONS: dict[str, type[Section]] = {
    "monitor": MonitorSettings,
    "thresholds": ThresholdSettings,
    "promotion": PromotionSettings,
    "training": TrainingSettings,
    "curation": CurationSettings,
    "corpus": CorpusSettings,
    "inference": InferenceSettings,
    "models": ModelsSettings,
    "automation": AutomationSettings,
}

"""The loop's knobs and their defaults, by section: one source for every rule and recipe value.

``lib.settings`` reads them from ``selfimprove.toml`` and ``SELFIMPROVE_*`` variables; the
defaults here are the values the demo proved. The sensors, the baseline and champion assets,
the promotion policy, ``TrainConfig``, the trainer resource and the training job take theirs
from here. Plain values only: nothing heavy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from selfimprove_assets.lib import kinds
from selfimprove_assets.lib.types import MODEL_TYPES

TRIGGER_FIELDS = "trigger fields"  # the promotion policy's token for the fields that triggered


@dataclass(frozen=True)
class MonitorSettings:
    """The accuracy sensors' evidence rules (``lib.monitor.trigger.evaluate_trigger``)."""

    # committed documents since the default was deployed before a field may trigger
    min_commits: int = 30
    # corrections the failing fields must hold: a dozen errors prove a drop but rarely teach a
    # candidate enough to show a significant gain (the demo retrained too early with 0)
    min_corrections: int = 60
    # power of the production slice's test to show a candidate closing the gap between the
    # live figure and the threshold (at [promotion] alpha); the sensor waits for the reviewed
    # documents that give the slice this power. None: trigger on detection alone
    decision_power: float | None = 0.8
    # share of the reviewed documents that curation holds out as the production slice (the
    # retraining set's holdout_fraction)
    slice_share: float = 0.2
    # the production slice holds at least this many documents before a retrain may start
    min_slice_documents: int = 20
    # after a rejection the sensor re-arms by itself (the next attempt of the cycle, on all the
    # corrections so far) once this many times the documents the rejected attempt used have
    # been committed since
    rearm_ratio: float = 1.0
    # rejected automatic attempts of a cycle before the loop stops, alerts and waits for an
    # operator (a reset or a manual re-run starts the count again)
    max_attempts: int = 3

    def problems(self) -> dict[str, str]:
        out = {
            k: "must be >= 0"
            for k in ("min_commits", "min_corrections", "min_slice_documents")
            if getattr(self, k) < 0
        }
        if self.decision_power is not None and not 0.5 <= self.decision_power < 1.0:
            out["decision_power"] = "must be in [0.5, 1) (or none)"
        if not 0.0 < self.slice_share < 1.0:
            out["slice_share"] = "must be in (0, 1)"
        if self.rearm_ratio <= 0:
            out["rearm_ratio"] = "must be > 0"
        if self.max_attempts < 1:
            out["max_attempts"] = "must be >= 1"
        return out


@dataclass(frozen=True)
class ThresholdSettings:
    """The thresholds a new default (V1 or a promoted candidate) gets, per field."""

    margin: float = 0.05  # below the default's golden-set figure (room for noise)
    floor: float = 0.5  # the lowest threshold: the team's quality target

    def problems(self) -> dict[str, str]:
        out = {}
        if self.margin < 0:
            out["margin"] = "must be >= 0"
        if not 0.0 <= self.floor <= 0.99:
            out["floor"] = "must be in [0, 0.99] (thresholds are capped at 0.99)"
        return out


TRIGGER_TESTS = ("pooled", "each")
# where a required improvement may be shown: either set, both, or only one of them
EVIDENCE_RULES = ("either", "both", "production", "golden")
# what makes a drop beyond its tolerance a regression: a significant paired test, or the point
REGRESSION_TESTS = ("significant", "point")


@dataclass(frozen=True)
class PromotionSettings:
    """When a candidate may replace the default (``lib.promotion.policy.PromotionPolicy``)."""

    alpha: float = 0.05  # significance level of the paired tests
    golden_tolerance: float = 0.01  # largest drop of the overall golden-set figure
    critical: Mapping[str, float] = field(default_factory=dict)  # label/type -> allowed drop
    require_significant_improvement_on: tuple[str, ...] = (TRIGGER_FIELDS,)
    production_tolerance: float | None = None  # largest drop of the production figure
    trigger_test: str = "pooled"  # pooled or each
    trigger_field_tolerance: float = 0.02  # pooled: largest drop of any one trigger field
    bootstrap: int = 1000  # bootstrap resamples for the intervals
    # either: a significant gain on the golden set or on the production slice suffices, both:
    # on each, production / golden: on that set only (no significant regression on both, always)
    rule: str = "either"
    # significant: a drop beyond its tolerance is a regression only when the one-sided paired
    # test says the candidate is worse at alpha; point: any point drop beyond it
    regression: str = "significant"

    def problems(self) -> dict[str, str]:
        out = {}
        if not 0.0 < self.alpha < 1.0:
            out["alpha"] = "must be in (0, 1)"
        for key in ("golden_tolerance", "trigger_field_tolerance", "production_tolerance"):
            value = getattr(self, key)
            if value is not None and value < 0:
                out[key] = "must be >= 0"
        if any(v < 0 for v in self.critical.values()):
            out["critical"] = "every tolerance must be >= 0"
        if self.trigger_test not in TRIGGER_TESTS:
            out["trigger_test"] = f"must be one of {list(TRIGGER_TESTS)}"
        if self.bootstrap < 1:
            out["bootstrap"] = "must be >= 1"
        if self.rule not in EVIDENCE_RULES:
            out["rule"] = f"must be one of {list(EVIDENCE_RULES)}"
        if self.regression not in REGRESSION_TESTS:
            out["regression"] = f"must be one of {list(REGRESSION_TESTS)}"
        return out

    def policy_dict(self) -> dict[str, Any]:
        """The keys of ``PromotionPolicy.from_dict`` (everything but ``bootstrap``)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "bootstrap"}
        values["critical"] = dict(self.critical)
        values["require_significant_improvement_on"] = list(self.require_significant_improvement_on)
        return values


SELECT_ON = ("val_f1", "val_loss")
LORA_LAYERS = ("all_linear", "query_value")


@dataclass(frozen=True)
class TrainingSettings:
    """The training recipe and its orchestration: the trainer resource's fields, and the
    defaults of ``TrainConfig`` (one run's knobs) and of the training job's arguments."""

    epochs: int = 15  # at most; early stopping ends sooner, few documents get min_steps
    warm_start_epochs: int | None = 5  # at most, for a candidate (it starts trained); None: epochs
    classifier_epochs: int | None = 6  # at most, for the classifier; None: epochs
    patience: int = 3  # evaluations without improvement before stopping
    batch_size: int = 8
    learning_rate: float = 2e-3  # LoRA adapters and the fresh head
    full_learning_rate: float = 2e-4  # the encoder in a full fine-tune
    # V1 trains every encoder weight (the kinds that say so: the extractor)
    full_finetune_types: tuple[str, ...] = field(
        default_factory=lambda: tuple(kinds.full_finetune_types())
    )
    head_lr_multiplier: float = 1.0  # the fresh head at learning_rate x this
    outside_weight: float = 0.5  # extractor loss weight of the O class (entities weigh 1)
    warmup_steps: int = 20  # at least this many warm-up steps (at most half the run)
    min_steps: int = 150  # a V1 makes at least this many steps; no early stop before them
    # the same floor for a candidate (0: its epoch cap alone); on 79 corrected FUNSD forms it
    # made the cycle's gain +6.9 points instead of +4.3 (README, bench_real part 6)
    warm_start_min_steps: int = 150
    select_on: str = "val_f1"  # which validation figure keeps an epoch: val_f1 or val_loss
    max_length: int = 256  # tokens per window
    lora_layers: str = "all_linear"  # LoRA placement of a V1: all_linear or query_value
    lora_dropout: float = 0.1
    train_2d_embeddings: bool = False  # V1 also trains the 2-D box embeddings (they overfit)

    def problems(self) -> dict[str, str]:
        out = {}
        for key in ("epochs", "patience", "batch_size", "max_length"):
            if getattr(self, key) < 1:
                out[key] = "must be >= 1"
        for key in ("warm_start_epochs", "classifier_epochs"):
            value = getattr(self, key)
            if value is not None and value < 1:
                out[key] = "must be >= 1 (or none)"
        for key in ("learning_rate", "full_learning_rate", "head_lr_multiplier", "outside_weight"):
            if getattr(self, key) <= 0:
                out[key] = "must be > 0"
        for key in ("warmup_steps", "min_steps", "warm_start_min_steps"):
            if getattr(self, key) < 0:
                out[key] = "must be >= 0"
        if not 0.0 <= self.lora_dropout < 1.0:
            out["lora_dropout"] = "must be in [0, 1)"
        if self.select_on not in SELECT_ON:
            out["select_on"] = f"must be one of {list(SELECT_ON)}"
        if self.lora_layers not in LORA_LAYERS:
            out["lora_layers"] = f"must be one of {list(LORA_LAYERS)}"
        unknown = set(self.full_finetune_types) - set(MODEL_TYPES)
        if unknown:
            out["full_finetune_types"] = f"unknown model types {sorted(unknown)}"
        return out


SECTIONS: dict[str, type[Any]] = {
    "monitor": MonitorSettings,
    "thresholds": ThresholdSettings,
    "promotion": PromotionSettings,
    "training": TrainingSettings,
}

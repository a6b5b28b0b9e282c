"""Decide whether the default model's live figures call for a retrain.

The sensor hands in counters it already keeps (commits per field, corrections, entity
outcomes) and gets back a decision with a human-readable reason, so the Dagster layer only
has to act on ``trigger`` and show ``reason``/``below``/``fields``.

Figures per field:

* classifier, field ``doc_type``: accuracy = 1 - corrected / committed (per document);
* extractor, one field per entity label, over entity outcomes: committed =
  unchanged + modified + added + removed, corrected = modified + added + removed, accuracy =
  1 - corrected / committed; precision = unchanged / (unchanged + modified + removed),
  recall = unchanged / (unchanged + modified + added), F1 from those. A modified entity is
  both a false positive (wrong value predicted) and a false negative (right value missed).

Only accuracy is compared with the threshold (the rule of the loop); precision, recall and F1
are reported so a reviewer can see *how* a label fails. Entity outcomes within one document
are not independent, so entity-level intervals are somewhat optimistic; the minimum sample
and the conservative confidence absorb part of that.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.monitor.power import Evidence, GauntletPower, gauntlet_evidence
from selfimprove_assets.lib.monitor.stats import (
    DEFAULT_CONFIDENCE,
    REPEATED_CHECK_CONFIDENCE,
    is_statistically_below,
    wilson_interval,
)
from selfimprove_assets.lib.types import ModelType, RetrainState

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD_KEY = "*"


@dataclass(frozen=True)
class FieldFigure:
    """Counters for one field of the default model since it was deployed."""

    committed: int
    corrected: int
    unchanged: int = 0
    modified: int = 0
    added: int = 0
    removed: int = 0

    def __post_init__(self) -> None:
        values = asdict(self)
        bad = {k: v for k, v in values.items() if v < 0}
        if bad:
            raise ValueError(f"FieldFigure counts must be >= 0, got {bad}")
        if self.corrected > self.committed:
            raise ValueError(
                f"FieldFigure corrected ({self.corrected}) exceeds committed ({self.committed})"
            )

    @property
    def entity_total(self) -> int:
        return self.unchanged + self.modified + self.added + self.removed


@dataclass(frozen=True)
class MetricEstimate:
    """A figure with its sample size and two-sided Wilson interval (None when n == 0)."""

    value: float | None
    n: int
    lower: float
    upper: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _estimate(successes: int, n: int, confidence: float) -> MetricEstimate:
    ci = wilson_interval(successes, n, confidence)
    return MetricEstimate(successes / n if n else None, n, ci.lower, ci.upper)


def accuracy_counts(figure: FieldFigure, entity_level: bool) -> tuple[int, int]:
    """(correct, total) behind the accuracy of a field."""
    if entity_level:
        total = figure.entity_total
        return figure.unchanged, total
    return figure.committed - figure.corrected, figure.committed


def field_metrics(
    figure: FieldFigure,
    confidence: float = DEFAULT_CONFIDENCE,
    entity_level: bool | None = None,
) -> dict[str, MetricEstimate]:
    """Accuracy (and for entity fields precision, recall, F1) with n and a Wilson interval.

    ``entity_level`` defaults to "the figure has entity outcomes". The F1 interval maps the
    Wilson interval of the Jaccard index J = tp / (tp + fp + fn) through the monotone
    F1 = 2J / (1 + J), which keeps the bound inside [0, 1] and exact at the point estimate.
    """
    if entity_level is None:
        entity_level = figure.entity_total > 0
    correct, total = accuracy_counts(figure, entity_level)
    out = {"accuracy": _estimate(correct, total, confidence)}
    if not entity_level:
        return out
    tp = figure.unchanged
    fp = figure.modified + figure.removed
    fn = figure.modified + figure.added
    out["precision"] = _estimate(tp, tp + fp, confidence)
    out["recall"] = _estimate(tp, tp + fn, confidence)
    jaccard = _estimate(tp, tp + fp + fn, confidence)

    def to_f1(j: float) -> float:
        return 2 * j / (1 + j)

    out["f1"] = MetricEstimate(
        to_f1(jaccard.value) if jaccard.value is not None else None,
        jaccard.n,
        to_f1(jaccard.lower),
        to_f1(jaccard.upper),
    )
    return out


@dataclass(frozen=True)
class BelowThreshold:
    """A field that triggers; ``lower``/``upper`` are one-sided bounds at the check's level."""

    field: str
    value: float
    lower: float
    upper: float
    threshold: float
    n: int
    errors: int = 0


@dataclass
class TriggerDecision:
    trigger: bool
    reason: str
    below: list[BelowThreshold] = field(default_factory=list)
    fields: dict[str, dict[str, MetricEstimate]] = field(default_factory=dict)
    watch: list[str] = field(default_factory=list)
    evidence: Evidence | None = None  # what the gauntlet needs (with a ``GauntletPower`` rule)

    @property
    def below_fields(self) -> list[str]:
        return [b.field for b in self.below]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "reason": self.reason,
            "below": [asdict(b) for b in self.below],
            "fields": {f: {k: m.to_dict() for k, m in ms.items()} for f, ms in self.fields.items()},
            "watch": list(self.watch),
            "evidence": self.evidence.to_dict() if self.evidence is not None else None,
        }


def _threshold_for(name: str, thresholds: dict[str, float]) -> float | None:
    value = thresholds.get(name, thresholds.get(DEFAULT_THRESHOLD_KEY))
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold for {name!r} must be in [0, 1], got {value}")
    return value


def evaluate_trigger(
    model_type: ModelType | str,
    state: RetrainState | str,
    figures: dict[str, FieldFigure],
    thresholds: dict[str, float],
    commits_since_deploy: int,
    min_commits: int,
    confidence: float = REPEATED_CHECK_CONFIDENCE,
    min_field_samples: int | None = None,
    min_corrections: int = 0,
    gauntlet: GauntletPower | None = None,
) -> TriggerDecision:
    """Retrain when some field's accuracy is statistically below its threshold.

    Skips (with the reason) while a retrain is TRIGGERED or INPROGRESS — one at a time per model
    type — and until ``commits_since_deploy >= min_commits``. A field needs at least
    ``min_field_samples`` observations (default ``min_commits``) before it may trigger; the
    test is :func:`~selfimprove_assets.lib.monitor.stats.is_statistically_below` at
    ``confidence``. ``thresholds`` maps field -> minimum accuracy; the key ``"*"`` is a
    default for fields without their own entry. Fields with no threshold are reported only.

    ``min_corrections``: the fields that are below together must also hold at least this many
    corrected observations before the retrain starts. Detection alone can be certain after a
    dozen errors, but a retraining set with a dozen corrections rarely yields a candidate that
    learns the new pattern *and* shows it significantly on the held-out slice; waiting for more
    evidence trades detection latency for a candidate that can pass the gauntlet.

    ``gauntlet``: the fields that are below must also have enough reviewed documents behind
    them for the production slice to decide (``lib.monitor.power``: the sample a one-sided
    test at the policy's alpha needs to detect the gap between their pooled live figure and
    their threshold with the rule's power). Until then the reason says how many more reviewed
    documents it waits for; ``evidence`` holds the figures. None: detection alone triggers.
    """
    kind = kind_of(model_type)
    state = RetrainState(state)
    if min_commits < 0 or commits_since_deploy < 0 or min_corrections < 0:
        raise ValueError("commits_since_deploy, min_commits and min_corrections must be >= 0")
    min_n = min_commits if min_field_samples is None else min_field_samples
    if state in (RetrainState.TRIGGERED, RetrainState.INPROGRESS):
        return TriggerDecision(False, f"a {kind.name} retrain is already {state}")
    if commits_since_deploy < min_commits:
        return TriggerDecision(
            False,
            f"{commits_since_deploy} commits since deploy, need {min_commits}",
        )
    if kind.document_field is not None:
        unknown = set(figures) - {kind.document_field}
        if unknown:
            raise ValueError(
                f"{kind.name} figures must only have {kind.document_field!r}, got {sorted(unknown)}"
            )
    entity_level = kind.entity_level

    decision = TriggerDecision(False, "")
    no_threshold: list[str] = []
    for name in sorted(figures):
        figure = figures[name]
        metrics = field_metrics(figure, DEFAULT_CONFIDENCE, entity_level=entity_level)
        decision.fields[name] = metrics
        threshold = _threshold_for(name, thresholds)
        if threshold is None:
            no_threshold.append(name)
            continue
        correct, n = accuracy_counts(figure, entity_level)
        if n == 0:
            continue
        value = correct / n
        if is_statistically_below(correct, n, threshold, confidence, min_n):
            # one-sided bounds at `confidence` == two-sided interval at 2*confidence - 1
            bounds = wilson_interval(correct, n, 2 * confidence - 1)
            decision.below.append(
                BelowThreshold(name, value, bounds.lower, bounds.upper, threshold, n, n - correct)
            )
        elif value < threshold:
            decision.watch.append(name)

    errors = sum(b.errors for b in decision.below)
    if decision.below and gauntlet is not None and commits_since_deploy > 0:
        n_below = sum(b.n for b in decision.below)
        decision.evidence = gauntlet_evidence(
            gauntlet,
            n_below - errors,
            n_below,
            sum(b.threshold * b.n for b in decision.below) / n_below,
            commits_since_deploy,
        )
    unit = "entities" if entity_level else "documents"
    if decision.below and errors < min_corrections:
        decision.reason = (
            f"waiting for corrections: {', '.join(decision.below_fields)} statistically below "
            f"threshold, but with {errors} corrected observations; a retrain needs "
            f"{min_corrections}"
        )
    elif decision.evidence is not None and not decision.evidence.enough:
        decision.reason = (
            f"waiting for evidence: {decision.evidence.missing} more reviewed documents so "
            f"that the gauntlet can decide ({', '.join(decision.below_fields)} statistically "
            f"below threshold; {decision.evidence.describe(unit)}; "
            f"{decision.evidence.reviewed_documents} reviewed so far)"
        )
    elif decision.below:
        decision.trigger = True
        parts = [
            f"{b.field} accuracy {b.value:.3f} (n={b.n}); its one-sided {confidence:.0%} upper "
            f"bound {b.upper:.3f} < threshold {b.threshold:.3f}"
            for b in decision.below
        ]
        decision.reason = "retrain: " + "; ".join(parts)
        if decision.evidence is not None:
            decision.reason += f"; the gauntlet can decide: {decision.evidence.describe(unit)}"
    else:
        decision.reason = "no field is statistically below its threshold"
        if decision.watch:
            decision.reason += (
                f" (below on point estimate only, not significant or n < {min_n}: "
                + ", ".join(decision.watch)
                + ")"
            )
    if no_threshold:
        decision.reason += f"; no threshold for: {', '.join(no_threshold)}"
    logger.info("%s trigger decision: %s", kind.name, decision.reason)
    return decision

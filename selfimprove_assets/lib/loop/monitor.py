"""The monitor's decision: is live accuracy statistically below its thresholds, can the
gauntlet decide on the reviewed documents there are, may a retrain start now, and the claim
that makes it one (the accuracy sensors call ``observe``).

After a rejection the loop does not stall: the next attempt of the same cycle (``v2.1``, ...,
on all the corrections so far, the rejected attempt's rows released) re-arms by itself once
``rearm_ratio`` times the documents the rejected attempt used have been committed since; after
``max_attempts`` rejected automatic attempts it waits for an operator (``Rearm``). A crash or a
cancel is no rejection: it is retried as soon as the trigger holds and never counts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from selfimprove_assets.lib.defaults import MonitorSettings
from selfimprove_assets.lib.feedback.live import live_figures
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.monitor.power import GauntletPower
from selfimprove_assets.lib.monitor.trigger import FieldFigure, TriggerDecision, evaluate_trigger
from selfimprove_assets.lib.store.repository import CycleInfo, FeedbackStore, ModelInfo
from selfimprove_assets.lib.types import RetrainState

# The run tag of a retrain the accuracy sensor started (curation keeps it in the cycle's
# trigger): an attempt without it was started by a person (a re-materialization).
SENSOR_TAG = "selfimprove/trigger"
_DEFAULT = MonitorSettings()


def gauntlet_rule(settings: MonitorSettings, alpha: float) -> GauntletPower | None:
    """The evidence rule of ``[monitor]`` at the promotion policy's ``alpha`` (None when
    ``decision_power`` is unset: detection alone triggers)."""
    if settings.decision_power is None:
        return None
    return GauntletPower(
        alpha=alpha,
        power=settings.decision_power,
        slice_share=settings.slice_share,
        min_slice_documents=settings.min_slice_documents,
    )


def rejected(info: CycleInfo) -> bool:
    """The attempt was judged and rejected (a crash or a cancel has no decision)."""
    return bool(info.decision) and info.decision.get("promote") is False  # type: ignore[union-attr]


def automatic(info: CycleInfo) -> bool:
    """The attempt was started by the accuracy sensor (not re-materialized by a person)."""
    return SENSOR_TAG in dict((info.trigger or {}).get("tags") or {})


@dataclass(frozen=True)
class Rearm:
    """After a rejection: may the sensor start the cycle's next attempt by itself?

    ``rejections``: rejected automatic attempts of the cycle since an operator last acted (a
    ``reset``, or an attempt a person started); crashed attempts are not counted. ``capped``
    when they reach ``max_attempts``: the loop waits for an operator. Otherwise it re-arms once
    ``new_documents`` (committed for the default since the rejection) reach ``needed``:
    ``rearm_ratio`` times the rows the rejected attempt used.
    """

    cycle_id: str
    rejected_name: str
    next_name: str
    rejections: int
    max_attempts: int
    rows_used: int
    new_documents: int
    needed: int

    @property
    def capped(self) -> bool:
        return self.rejections >= self.max_attempts

    @property
    def ready(self) -> bool:
        return not self.capped and self.new_documents >= self.needed

    @property
    def waits_for_operator(self) -> bool:
        return self.capped

    @property
    def reason(self) -> str:
        head = f"{self.rejected_name} was rejected (cycle {self.cycle_id})"
        if self.capped:
            return (
                f"{head}: {self.rejections} automatic attempts rejected, the most "
                f"([monitor] max_attempts = {self.max_attempts}); waiting for an operator to "
                "adjust the retraining-set config and re-materialize it from the UI, or reset"
            )
        if not self.ready:
            return (
                f"{head}: {self.needed - self.new_documents} more reviewed documents before "
                f"{self.next_name} re-arms ({self.new_documents} of {self.needed} since the "
                f"rejection: {self.rows_used} the rejected attempt used x rearm_ratio; "
                f"automatic attempt {self.rejections + 1} of {self.max_attempts})"
            )
        return (
            f"re-arm {self.next_name}: {self.new_documents} reviewed documents since {head}, "
            f"{self.needed} needed; automatic attempt {self.rejections + 1} of "
            f"{self.max_attempts}, on all the corrections so far"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "capped": self.capped,
            "ready": self.ready,
            "reason": self.reason,
        }


def rearm_status(
    store: FeedbackStore,
    model_type: str,
    *,
    rearm_ratio: float = _DEFAULT.rearm_ratio,
    max_attempts: int = _DEFAULT.max_attempts,
) -> Rearm | None:
    """What follows the rejection of the current attempt; None when the current attempt was
    not rejected (none yet, promoted, running, crashed: a crash is retried as before)."""
    current = store.cycles.current_cycle(model_type)
    if current is None or not rejected(current):
        return None
    rejections = 0
    for attempt in store.cycles.cycle_attempts(current.cycle_id):
        if not automatic(attempt):
            rejections = 0  # a person started this one: the count starts after it
        elif rejected(attempt):
            rejections += 1
        if (attempt.decision or {}).get(cycle.OPERATOR_RESET_KEY):
            rejections = 0
    decision = current.decision or {}
    rows_used = int(decision.get(cycle.ROWS_USED_KEY, 0))
    new = store.counters.committed_count(
        model_type, current.parent_version, int(decision.get(cycle.AFTER_COMMIT_KEY, 0))
    )
    return Rearm(
        cycle_id=current.cycle_id,
        rejected_name=cycle.attempt_name(current.cycle_id, current.attempt),
        next_name=cycle.attempt_name(current.cycle_id, current.attempt + 1),
        rejections=rejections,
        max_attempts=max_attempts,
        rows_used=rows_used,
        new_documents=new,
        needed=max(1, math.ceil(rearm_ratio * rows_used - 1e-9)),
    )


@dataclass(frozen=True)
class Observation:
    """One look at a default's live figures and what came of it."""

    model_type: str
    default: ModelInfo
    figures: dict[str, FieldFigure]
    decision: TriggerDecision
    waiting: str | None
    claimed: bool
    rearm: Rearm | None = None  # after a rejection: the next attempt's rule

    @property
    def skip_reason(self) -> str | None:
        """Why no retrain was requested (None when one was claimed)."""
        if self.claimed:
            return None
        if not self.decision.trigger:
            return self.decision.reason + (f"; {self.waiting}" if self.waiting else "")
        return self.waiting or "another trigger claimed the retrain first"

    def trigger_fields(self) -> dict[str, dict[str, float | int]]:
        return {
            b.field: {
                "value": round(b.value, 4),
                "upper": round(b.upper, 4),
                "threshold": b.threshold,
                "n": b.n,
            }
            for b in self.decision.below
        }

    def to_dict(self) -> dict[str, Any]:
        """The decision, the wait and the re-arm as data (reasons and sample sizes)."""
        return {
            "model_type": self.model_type,
            "default_version": self.default.version,
            "claimed": self.claimed,
            "skip_reason": self.skip_reason,
            "decision": self.decision.to_dict(),
            "rearm": self.rearm.to_dict() if self.rearm is not None else None,
        }


def observe(
    store: FeedbackStore,
    model_type: str,
    *,
    min_commits: int,
    min_corrections: int = 0,
    claim: bool = True,
    gauntlet: GauntletPower | None = None,
    rearm_ratio: float = _DEFAULT.rearm_ratio,
    max_attempts: int = _DEFAULT.max_attempts,
) -> Observation | None:
    """The figures of the default, the trigger decision and, when it says retrain and nobody
    waits for an operator or for the re-arm's documents, the claim (state TRIGGERED). None
    when there is no default. ``gauntlet``: the evidence rule (``gauntlet_rule``)."""
    default = store.models.get_default(model_type)
    if default is None:
        return None
    figures = live_figures(store, model_type, default.version)
    decision = evaluate_trigger(
        model_type,
        default.retrain_state,
        figures,
        default.thresholds,
        commits_since_deploy=store.counters.counter_commit_total(model_type, default.version),
        min_commits=min_commits,
        min_corrections=min_corrections,
        gauntlet=gauntlet,
    )
    rearm = None
    if default.retrain_state == RetrainState.FAILED.value:
        rearm = rearm_status(store, model_type, rearm_ratio=rearm_ratio, max_attempts=max_attempts)
    waiting = rearm.reason if rearm is not None and not rearm.ready else None
    reason = decision.reason if rearm is None else f"{rearm.reason}; {decision.reason}"
    claimed = bool(
        claim and decision.trigger and not waiting and cycle.claim(store, model_type, reason)
    )
    return Observation(model_type, default, figures, decision, waiting, claimed, rearm)

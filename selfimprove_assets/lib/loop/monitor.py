"""The monitor's decision: is live accuracy statistically below its thresholds, may a retrain
start now, and the claim that makes it one (the accuracy sensors call ``observe``)."""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove_assets.lib.feedback.live import live_figures
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.monitor.trigger import FieldFigure, TriggerDecision, evaluate_trigger
from selfimprove_assets.lib.store.repository import FeedbackStore, ModelInfo
from selfimprove_assets.lib.types import RetrainState


@dataclass(frozen=True)
class Observation:
    """One look at a default's live figures and what came of it."""

    model_type: str
    default: ModelInfo
    figures: dict[str, FieldFigure]
    decision: TriggerDecision
    waiting: str | None
    claimed: bool

    @property
    def skip_reason(self) -> str | None:
        """Why no retrain was requested (None when one was claimed)."""
        if self.claimed:
            return None
        if not self.decision.trigger:
            return self.decision.reason
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


def observe(
    store: FeedbackStore,
    model_type: str,
    *,
    min_commits: int,
    min_corrections: int = 0,
    claim: bool = True,
) -> Observation | None:
    """The figures of the default, the trigger decision and, when it says retrain and nobody
    waits for an operator, the claim (state TRIGGERED). None when there is no default."""
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
    )
    waiting = waiting_for_operator(store, model_type, default.retrain_state)
    claimed = bool(
        claim
        and decision.trigger
        and not waiting
        and cycle.claim(store, model_type, decision.reason)
    )
    return Observation(model_type, default, figures, decision, waiting, claimed)


def waiting_for_operator(store: FeedbackStore, model_type: str, state: str) -> str | None:
    """A candidate the gauntlet rejected leaves the loop to an operator (the alternate path).

    Retrying on the same data would reject again; the operator adjusts the curation config and
    re-materializes from the UI. A run that crashed (no decision) may be triggered again.
    """
    if state != RetrainState.FAILED.value:
        return None
    current = store.cycles.current_cycle(model_type)
    if current is None or not current.decision or current.decision.get("promote", True):
        return None
    name = cycle.attempt_name(current.cycle_id, current.attempt)
    return (
        f"{model_type} candidate v{current.candidate_version} ({name}) was rejected (cycle "
        f"{current.cycle_id} attempt {current.attempt}); waiting for an operator to adjust the "
        "retraining-set config and re-materialize it from the UI"
    )

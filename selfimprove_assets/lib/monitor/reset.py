"""Recover a stuck retrain state by hand (operator action: CLI ``reset`` and the admin API).

A run that died where no sensor saw it (the daemon was down, or the process was killed) can
leave the default's retrain state TRIGGERED or INPROGRESS and the feedback rows of its cycle
claimed. ``reset_retrain_state`` puts the state back to IDLE, releases the rows of the current
cycle, marks that cycle FAILED and records who did it and why (the model's ``state_reason``
plus a log line). Running it again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES, RetrainState

logger = logging.getLogger(__name__)

RESETTABLE = (RetrainState.TRIGGERED, RetrainState.INPROGRESS, RetrainState.FAILED)


class UnknownModelType(ValueError):
    """The model type is not one of the loop's."""


class NoDefaultModel(LookupError):
    """The model type has no default version, so it has no retrain state."""


@dataclass(frozen=True)
class ResetResult:
    model_type: str
    version: str
    previous_state: str
    state: str
    changed: bool
    cycle_id: str | None
    rows_released: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reset_retrain_state(
    store: FeedbackStore, model_type: str, actor: str, reason: str = ""
) -> ResetResult:
    """Move a TRIGGERED/INPROGRESS/FAILED retrain state to IDLE and free the cycle's rows.

    IDLE and COMPLETED are left as they are (nothing is stuck). Raises ``UnknownModelType`` or
    ``NoDefaultModel``.
    """
    if model_type not in MODEL_TYPES:
        raise UnknownModelType(
            f"unknown model type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}"
        )
    default = store.get_default(model_type)
    if default is None:
        raise NoDefaultModel(f"there is no default {model_type} model, so no retrain state")
    previous = default.retrain_state
    audit = f"reset from {previous} by {actor}" + (f": {reason}" if reason else "")
    changed = store.set_retrain_state(
        model_type, RetrainState.IDLE, reason=audit[:1000], expected=list(RESETTABLE)
    )
    cycle = store.current_cycle(model_type)
    released = 0
    cycle_id: str | None = None
    if cycle is not None and cycle.state != RetrainState.COMPLETED.value:
        # A completed cycle's rows were archived by its promotion; any other cycle's rows are
        # still claimed only if a run stopped midway.
        cycle_id = cycle.cycle_id
        released = store.release_cycle(cycle.cycle_id)
        if cycle.state != RetrainState.FAILED.value:
            store.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.FAILED)
            changed = True
    changed = changed or released > 0
    after = store.get_default(model_type)
    state = after.retrain_state if after is not None else previous
    if changed:
        logger.warning(
            "audit: %s retrain state %s -> %s by %s (cycle %s, %d rows released)%s",
            model_type,
            previous,
            state,
            actor,
            cycle_id,
            released,
            f": {reason}" if reason else "",
        )
    return ResetResult(
        model_type=model_type,
        version=default.version,
        previous_state=previous,
        state=state,
        changed=changed,
        cycle_id=cycle_id,
        rows_released=released,
        reason=audit if changed else f"nothing to reset ({previous})",
    )

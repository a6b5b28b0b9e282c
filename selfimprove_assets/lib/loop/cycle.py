"""The only writer of the retrain state and of retrain cycles outside the store.

Every transition of the loop's life is one function here, so the order of the writes (state,
cycle row, claimed feedback rows) is decided once: ``claim`` (the monitor), ``begin`` and
``start`` (curation), ``record_candidate`` (training), ``archive`` (promotion), ``release``
(rejection), ``fail`` (a crashed or canceled run), ``rearm`` and ``reset`` (operators and
benchmarks).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from selfimprove_assets.lib.store.repository import CycleInfo, FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES, RetrainState

logger = logging.getLogger(__name__)

CLAIMABLE = (RetrainState.IDLE, RetrainState.COMPLETED, RetrainState.FAILED)
RUNNING = (RetrainState.TRIGGERED, RetrainState.INPROGRESS)
RESETTABLE = (RetrainState.TRIGGERED, RetrainState.INPROGRESS, RetrainState.FAILED)
VERSION_NAME_KEY = "version_name"
# kept in a rejected attempt's decision (``release``) and by ``reset`` on the current attempt
ROWS_USED_KEY = "rows_used"
AFTER_COMMIT_KEY = "after_commit"
OPERATOR_RESET_KEY = "operator_reset"
_CYCLE_NUMBER = re.compile(r"-c(\d+)$")


class UnknownModelType(ValueError):
    """The model type is not one of the loop's."""


class NoDefaultModel(LookupError):
    """The model type has no default version, so it has no retrain state."""


def attempt_name(cycle_id: str, attempt: int) -> str:
    """``v2`` for the first attempt of the first cycle after the baseline ``v1``, ``v2.1`` for
    its second attempt, ``v3`` for the next cycle's first (see the package docstring)."""
    found = _CYCLE_NUMBER.search(cycle_id)
    if found is None:
        return f"{cycle_id}-a{attempt}"
    generation = int(found.group(1)) + 1
    return f"v{generation}" if attempt <= 1 else f"v{generation}.{attempt - 1}"


def version_name(metrics: Mapping[str, Any], version: str) -> str:
    """The name the model table keeps with a version's figures; ``v<version>`` for a baseline."""
    name = metrics.get(VERSION_NAME_KEY)
    return str(name) if name else f"v{version}"


def claim(store: FeedbackStore, model_type: str, reason: str) -> bool:
    """The monitor's compare-and-set: IDLE/COMPLETED/FAILED -> TRIGGERED; False if another
    trigger (or a running cycle) got there first."""
    return store.cycles.set_retrain_state(
        model_type, RetrainState.TRIGGERED, reason=reason, expected=list(CLAIMABLE)
    )


def begin(store: FeedbackStore, model_type: str, reason: str = "curating") -> None:
    """Curation starts: INPROGRESS, whatever the state (an operator's re-materialization of a
    rejected cycle starts from FAILED)."""
    store.cycles.set_retrain_state(model_type, RetrainState.INPROGRESS, reason=reason)


def start(
    store: FeedbackStore,
    model_type: str,
    parent_version: str,
    *,
    trigger_tags: Mapping[str, str],
    run_id: str | None,
    feedback_ids: Iterable[int],
) -> CycleInfo:
    """Open the cycle (or the next attempt of an open one), record the run that works on it and
    claim the feedback rows it trains and is judged on."""
    cycle = store.cycles.open_cycle(model_type, parent_version, {"tags": dict(trigger_tags)})
    if run_id:
        store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, dagster_run_id=run_id)
    store.cycles.mark_retrained(list(feedback_ids), cycle.cycle_id)
    return cycle


def record_candidate(store: FeedbackStore, cycle_id: str, attempt: int, version: str) -> None:
    store.cycles.update_cycle(cycle_id, attempt, candidate_version=version)


def archive(
    store: FeedbackStore, cycle_id: str, attempt: int, version: str, decision: dict[str, Any]
) -> int:
    """A promoted candidate: its rows move to the archive and the cycle is COMPLETED (the
    state itself became COMPLETED with the new default, see ``lib.deployment``)."""
    archived = store.cycles.archive_cycle(cycle_id, version)
    store.cycles.update_cycle(cycle_id, attempt, state=RetrainState.COMPLETED, decision=decision)
    return archived


def release(
    store: FeedbackStore,
    model_type: str,
    cycle_id: str,
    attempt: int,
    *,
    decision: dict[str, Any],
    reason: str,
) -> int:
    """A rejected candidate (the alternate path): rows available again, cycle and state FAILED
    with the decision. The decision keeps how many rows the attempt used (``rows_used``) and
    the last commit at the rejection (``after_commit``): the monitor re-arms the next attempt
    once enough documents were committed since, or waits for an operator (see ``monitor``)."""
    released = store.cycles.release_cycle(cycle_id)
    decision = {
        **decision,
        ROWS_USED_KEY: released,
        AFTER_COMMIT_KEY: store.counters.max_commit_id(),
    }
    store.cycles.update_cycle(cycle_id, attempt, state=RetrainState.FAILED, decision=decision)
    store.cycles.set_retrain_state(model_type, RetrainState.FAILED, reason=reason[:1000])
    return released


def fail(store: FeedbackStore, model_type: str, message: str) -> int:
    """A run of the cycle crashed or was canceled: state FAILED (if it was running), the open
    cycle FAILED and its rows released. Returns the rows released."""
    store.cycles.set_retrain_state(
        model_type,
        RetrainState.FAILED,
        reason=f"retraining run failed: {message[:500]}",
        expected=list(RUNNING),
    )
    cycle = store.cycles.current_cycle(model_type)
    if cycle is None or cycle.state != RetrainState.INPROGRESS.value:
        return 0
    released = store.cycles.release_cycle(cycle.cycle_id)
    store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.FAILED)
    return released


def rearm(store: FeedbackStore, model_type: str, reason: str | None = None) -> bool:
    """Back to IDLE without touching any cycle (benchmarks re-run the trigger decision)."""
    return store.cycles.set_retrain_state(model_type, RetrainState.IDLE, reason=reason)


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


def reset(store: FeedbackStore, model_type: str, actor: str, reason: str = "") -> ResetResult:
    """Recover a stuck state by hand (CLI ``reset``, admin ``POST /v1/models/{type}/reset``).

    A run that died where no sensor saw it (the daemon was down, the process killed) can leave
    TRIGGERED or INPROGRESS and the cycle's rows claimed. TRIGGERED/INPROGRESS/FAILED become
    IDLE, the current cycle's rows are released and that cycle FAILED, and who did it and why
    is kept (the model's ``state_reason`` and an audit log line). IDLE and COMPLETED are left
    as they are; running it again changes nothing. The current attempt's decision records the
    reset (``operator_reset``), so the count of automatic attempts starts again after it.
    Raises ``UnknownModelType`` or ``NoDefaultModel``.
    """
    if model_type not in MODEL_TYPES:
        raise UnknownModelType(
            f"unknown model type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}"
        )
    default = store.models.get_default(model_type)
    if default is None:
        raise NoDefaultModel(f"there is no default {model_type} model, so no retrain state")
    previous = default.retrain_state
    audit = f"reset from {previous} by {actor}" + (f": {reason}" if reason else "")
    changed = store.cycles.set_retrain_state(
        model_type, RetrainState.IDLE, reason=audit[:1000], expected=list(RESETTABLE)
    )
    cycle = store.cycles.current_cycle(model_type)
    released = 0
    cycle_id: str | None = None
    if cycle is not None and cycle.state != RetrainState.COMPLETED.value:
        # A completed cycle's rows were archived by its promotion; any other cycle's rows are
        # still claimed only if a run stopped midway.
        cycle_id = cycle.cycle_id
        released = store.cycles.release_cycle(cycle.cycle_id)
        if cycle.state != RetrainState.FAILED.value:
            store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.FAILED)
            changed = True
        if changed and not (cycle.decision or {}).get(OPERATOR_RESET_KEY):
            marked = {**(cycle.decision or {}), OPERATOR_RESET_KEY: audit[:500]}
            store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, decision=marked)
    changed = changed or released > 0
    after = store.models.get_default(model_type)
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

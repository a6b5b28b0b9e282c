"""The end of a cycle: promote a better candidate, reject a worse one, or roll the default back.

All three move the champion in one order (``lib.deployment.set_champion``: the registry's
``champion`` alias, then the model table) and leave the decision on the registry version as
tags (``decision``, ``reasons``) so the MLflow UI shows why a version is or is not serving.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from selfimprove_assets.lib.deployment import (
    deploy_version,
    set_champion,
    tag_version,
)
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY
from selfimprove_assets.lib.promotion.policy import DEFAULT_THRESHOLD_FLOOR
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState

logger = logging.getLogger(__name__)

PROMOTED = "promoted"
REJECTED = "rejected"
ROLLED_BACK = "rolled_back"
TAG_VALUE_LIMIT = 5000  # MLflow's limit for a model version tag's value


class NothingToRollBack(LookupError):
    """The default has no parent version in the model table."""


@dataclass(frozen=True)
class Outcome:
    """What the champion step did; ``rows`` were archived (promoted) or released (rejected)."""

    outcome: str
    model_type: str
    candidate_version: str
    name: str
    default_version: str
    previous_version: str
    rows: int
    reasons: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for the logs: what happened to which version, and to how many rows."""
        head = f"{self.outcome} {self.model_type} v{self.candidate_version} ({self.name})"
        if self.outcome == PROMOTED:
            return f"{head}; archived {self.rows} rows"
        return f"{head}; {self.rows} rows released"


def decision_tags(decision: str, reasons: Sequence[str]) -> dict[str, str]:
    return {"decision": decision, "reasons": "; ".join(reasons)[:TAG_VALUE_LIMIT] or "-"}


def conclude(
    store: FeedbackStore,
    client: MlflowClient,
    model_type: str,
    evaluation: Mapping[str, Any],
    *,
    margin: float,
    floor: float = DEFAULT_THRESHOLD_FLOOR,
) -> Outcome:
    """Promote the evaluated candidate when its decision says so, else ``reject`` it. Promoted,
    it becomes the default (registry, then table; thresholds re-based on its golden figures),
    the cycle's rows are archived and the version tagged ``promoted``."""
    if not evaluation["decision"]["promote"]:
        return reject(store, client, model_type, evaluation)
    cycle_id, attempt = evaluation["cycle_id"], evaluation["attempt"]
    version, previous = evaluation["candidate_version"], evaluation["default_version"]
    name = evaluation.get("name") or cycle.attempt_name(cycle_id, attempt)
    registered = store.models.get_version(model_type, version)
    if registered is None:
        raise LookupError(f"{model_type} version {version} is not in the model table")
    metrics: dict[str, object] = {**evaluation["candidate_golden"], cycle.VERSION_NAME_KEY: name}
    parent = store.models.get_default(model_type)
    recorded = (parent.baseline_metrics if parent else {}).get(TRAINING_DATA_KEY)
    if recorded is not None:  # serving judges whether the other model type is needed
        metrics[TRAINING_DATA_KEY] = recorded  # by it (one-type corpora)
    info = deploy_version(
        store,
        client,
        model_type=model_type,
        version=version,
        field_accuracy=evaluation["candidate_golden"]["field_accuracy"],
        metrics=metrics,
        margin=margin,
        floor=floor,
        mlflow_run_id=registered.mlflow_run_id,
        parent_version=previous,
        state=RetrainState.COMPLETED,
        reason=f"promoted {name} from cycle {cycle_id} attempt {attempt}",
    )
    archived = cycle.archive(store, cycle_id, attempt, version, dict(evaluation["decision"]))
    reasons = list(evaluation["decision"]["reasons"])
    tag_version(client, model_type, version, decision_tags(PROMOTED, reasons))
    done = Outcome(
        PROMOTED, model_type, version, name, version, previous, archived, reasons, info.thresholds
    )
    logger.info(done.summary)
    return done


def reject(
    store: FeedbackStore, client: MlflowClient, model_type: str, evaluation: Mapping[str, Any]
) -> Outcome:
    """The alternate path: the default stays, the cycle's rows are released for another
    attempt, state FAILED with the reasons, and the version tagged ``rejected``."""
    cycle_id, attempt = evaluation["cycle_id"], evaluation["attempt"]
    version, default = evaluation["candidate_version"], evaluation["default_version"]
    name = evaluation.get("name") or cycle.attempt_name(cycle_id, attempt)
    failed = list(evaluation["decision"]["failed"])
    released = cycle.release(
        store,
        model_type,
        cycle_id,
        attempt,
        decision=dict(evaluation["decision"]),
        reason=f"candidate v{version} ({name}) rejected: {'; '.join(failed)}",
    )
    tag_version(client, model_type, version, decision_tags(REJECTED, failed))
    done = Outcome(REJECTED, model_type, version, name, default, default, released, failed)
    logger.warning(done.summary)
    return done


@dataclass(frozen=True)
class Rollback:
    model_type: str
    previous_version: str
    default_version: str


def rollback(store: FeedbackStore, client: MlflowClient, model_type: str, actor: str) -> Rollback:
    """Make the default's parent version the default again, in the champion order (registry,
    then table: an unreachable registry changes nothing; a failed table write is reported by
    ``registry_agrees`` and the same rollback again repairs it). Raises
    ``cycle.NoDefaultModel`` or ``NothingToRollBack``; the registry client's error as is."""
    current = store.models.get_default(model_type)
    if current is None:
        raise cycle.NoDefaultModel(f"there is no default {model_type} model to roll back")
    if not current.parent_version:
        raise NothingToRollBack(
            f"{model_type} version {current.version} has no parent version to roll back to"
        )
    parent = store.models.get_version(model_type, current.parent_version)
    if parent is None:
        raise NothingToRollBack(
            f"{model_type} parent version {current.parent_version} is not in the model table"
        )
    set_champion(
        store,
        client,
        model_type=model_type,
        version=parent.version,
        thresholds=parent.thresholds or current.thresholds,
        baseline_metrics=None,
        state=RetrainState.COMPLETED,
        reason=f"rolled back from version {current.version} by {actor}",
    )
    try:  # an annotation: the rollback itself is done, so a registry hiccup here only logs
        tag_version(
            client,
            model_type,
            current.version,
            {ROLLED_BACK: f"by {actor}, to version {parent.version}"},
        )
    except MlflowException:
        logger.warning("could not tag %s v%s as rolled back", model_type, current.version)
    logger.info(
        "%s rolled back from %s to %s by %s", model_type, current.version, parent.version, actor
    )
    return Rollback(model_type, current.version, parent.version)

"""A trained candidate joins the registry and the model table under its attempt name.

The training job registers an MLflow version (an integer); here it becomes the ``challenger``,
gets its person-facing name (``v2.1``, see ``lib.loop``) as version tags and description, and
the cycle records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from selfimprove_assets.lib.deployment import CHALLENGER, registry_name, tag_version
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.store.repository import FeedbackStore


@dataclass(frozen=True)
class Candidate:
    model_type: str
    version: str
    name: str
    parent_version: str
    cycle_id: str
    attempt: int
    run_id: str | None


def attempt_tags(
    cycle_id: str, attempt: int, parent_version: str, parent_name: str
) -> dict[str, str]:
    return {
        "name": cycle.attempt_name(cycle_id, attempt),
        "cycle": cycle_id,
        "attempt": str(attempt),
        "parent": parent_version,
        "parent_name": parent_name,
    }


def describe(cycle_id: str, attempt: int, parent_version: str, parent_name: str) -> str:
    name = cycle.attempt_name(cycle_id, attempt)
    ordinal = {1: "first", 2: "second", 3: "third"}.get(attempt, f"{attempt}th")
    return (
        f"{name}: {ordinal} attempt of retrain cycle {cycle_id}, fine-tuned from "
        f"{parent_name} (registry version {parent_version})"
    )


def record_candidate(
    store: FeedbackStore,
    client: MlflowClient,
    *,
    model_type: str,
    version: str,
    run_id: str | None,
    parent_version: str,
    cycle_id: str,
    attempt: int,
) -> Candidate:
    """Alias ``challenger``, attempt tags and description in the registry; the version in the
    model table (with its name); the cycle's candidate."""
    registered = registry_name(model_type)
    parent = store.models.get_version(model_type, parent_version)
    parent_name = cycle.version_name(parent.baseline_metrics if parent else {}, parent_version)
    tags = attempt_tags(cycle_id, attempt, parent_version, parent_name)
    client.set_registered_model_alias(registered, CHALLENGER, version)
    tag_version(client, model_type, version, tags)
    client.update_model_version(
        registered, version, description=describe(cycle_id, attempt, parent_version, parent_name)
    )
    store.models.register_version(
        model_type=model_type,
        version=version,
        registry_name=registered,
        mlflow_run_id=run_id,
        parent_version=parent_version,
        baseline_metrics={cycle.VERSION_NAME_KEY: tags["name"]},
    )
    cycle.record_candidate(store, cycle_id, attempt, version)
    return Candidate(model_type, version, tags["name"], parent_version, cycle_id, attempt, run_id)

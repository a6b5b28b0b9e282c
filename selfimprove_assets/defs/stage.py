"""The loop's stages, declared once: the table every stage asset, job and sensor reads.

A stage is one asset per model type, ``<type>_<stage>`` in the ``<type>_loop`` group. The table
says what it reads, what it runs after, its kinds, whether it belongs to the retraining job, and
whether it is part of the retrain cycle (claims feedback rows or moves the retrain state: a run
that fails while materializing one leaves the state FAILED and frees the rows).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from selfimprove_assets.lib.kinds import kind_of

MODEL_TYPE_TAG = "selfimprove/model_type"


@dataclass(frozen=True)
class Stage:
    """One stage of a model type's loop.

    ``inputs`` are earlier stages passed in as arguments of the same name (``"candidate"`` is
    ``<type>_candidate``), ``shared_inputs`` the assets both types read (the golden set), and
    ``after`` earlier stages it runs after without reading them.
    """

    name: str
    kinds: frozenset[str]
    inputs: tuple[str, ...] = ()
    shared_inputs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    in_retraining_job: bool = False
    claims_rows: bool = False

    def key(self, model_type: str) -> str:
        return f"{model_type}_{self.name}"


STAGES: tuple[Stage, ...] = (
    Stage(
        "baseline",
        frozenset({"pytorch", "mlflow"}),
        shared_inputs=("initial_training_set", "golden_test_set"),
    ),
    Stage("accuracy", frozenset({"python"}), after=("baseline",), in_retraining_job=True),
    Stage(
        "retraining_set",
        frozenset({"pandas", "parquet"}),
        shared_inputs=("initial_training_set",),
        after=("accuracy",),
        in_retraining_job=True,
        claims_rows=True,
    ),
    Stage(
        "candidate",
        frozenset({"pytorch", "mlflow"}),
        inputs=("retraining_set",),
        in_retraining_job=True,
        claims_rows=True,
    ),
    Stage(
        "evaluation",
        frozenset({"python", "mlflow"}),
        inputs=("candidate",),
        shared_inputs=("golden_test_set",),
        in_retraining_job=True,
        claims_rows=True,
    ),
    Stage(
        "champion",
        frozenset({"mlflow"}),
        inputs=("evaluation",),
        in_retraining_job=True,
        claims_rows=True,
    ),
)
STAGE = {stage.name: stage for stage in STAGES}
# The stages the retraining job materializes, and those of the retrain cycle (curation on):
# an untagged run that materializes one of the latter (a re-materialization from the asset
# graph or the CLI) is part of the cycle; one that only recomputes ``<type>_accuracy`` is not.
RETRAINING_STAGES = tuple(s.name for s in STAGES if s.in_retraining_job)
CYCLE_STAGES = tuple(s.name for s in STAGES if s.claims_rows)


def stage_asset(model_type: str, stage: str) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The asset of ``stage`` (a name in ``STAGES``) for ``model_type``, tagged with its type.

    The function's docstring is the description, with ``{model_type}`` and ``{kind}`` (its
    ``ModelKind``) filled in.
    """
    spec = STAGE[stage]
    ins = {s: dg.AssetIn(key=STAGE[s].key(model_type)) for s in spec.inputs}
    ins |= {name: dg.AssetIn() for name in spec.shared_inputs}

    def declare(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        template = " ".join((inspect.getdoc(fn) or "").split())
        return dg.asset(
            name=spec.key(model_type),
            group_name=f"{model_type}_loop",
            kinds=set(spec.kinds),
            deps=[STAGE[s].key(model_type) for s in spec.after],
            ins=ins,
            tags={MODEL_TYPE_TAG: model_type},
            description=template.format(model_type=model_type, kind=kind_of(model_type)),
        )(fn)

    return declare

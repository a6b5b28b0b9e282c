"""One stage of a model type's loop as a Dagster asset, declared the same way for every stage."""

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from selfimprove_assets.defs.feedback.sensors import MODEL_TYPE_TAG
from selfimprove_assets.lib.kinds import kind_of


def stage_asset(
    model_type: str,
    stage: str,
    *,
    kinds: set[str],
    stage_inputs: Sequence[str] = (),
    shared_inputs: Sequence[str] = (),
    stage_deps: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The asset ``<type>_<stage>`` in the ``<type>_loop`` group, tagged with its model type.

    ``stage_inputs`` are earlier stages of the same type passed in as arguments of the same name
    (``"candidate"`` is ``<type>_candidate``), ``shared_inputs`` the assets both types read (the
    golden set), and ``stage_deps`` earlier stages it runs after without reading them. The
    function's docstring is the description, with ``{model_type}`` and ``{kind}`` (its
    ``ModelKind``) filled in.
    """
    ins = {s: dg.AssetIn(key=f"{model_type}_{s}") for s in stage_inputs}
    ins |= {name: dg.AssetIn() for name in shared_inputs}

    def declare(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        template = " ".join((inspect.getdoc(fn) or "").split())
        return dg.asset(
            name=f"{model_type}_{stage}",
            group_name=f"{model_type}_loop",
            kinds=kinds,
            deps=[f"{model_type}_{s}" for s in stage_deps],
            ins=ins,
            tags={MODEL_TYPE_TAG: model_type},
            description=template.format(model_type=model_type, kind=kind_of(model_type)),
        )(fn)

    return declare

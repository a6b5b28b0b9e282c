"""The models: ``train-baseline``, ``status``, ``rollback`` and ``reset``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from selfimprove_assets.cli.common import (
    check_mlflow,
    emit,
    materialization_summary,
    open_settings,
    open_store,
    summary_table,
    what_value_table,
)
from selfimprove_assets.cli.errors import console, fail, state
from selfimprove_assets.lib.types import MODEL_TYPES


def train_baseline(
    model_type: Annotated[
        str | None, typer.Option("--model-type", help="classifier or extractor (default both).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train V1 on the ingested corpus, register it and make it the default."""
    from selfimprove_assets.runner import materialize

    types = [model_type] if model_type else list(MODEL_TYPES)
    for t in types:
        if t not in MODEL_TYPES:
            fail(f"unknown model type {t!r}; choose classifier or extractor")
    settings = open_settings()
    import dagster as dg

    from selfimprove_assets.runner import prepare_instance

    instance = prepare_instance(settings)
    if instance.get_latest_materialization_event(dg.AssetKey("initial_training_set")) is None:
        fail(
            f"no ingested corpus in {settings.home} (SELFIMPROVE_HOME): run "
            "`selfimprove ingest DIR` first"
        )
    check_mlflow(settings)
    open_store(settings).dispose()
    with console.status(f"training baseline {', '.join(types)} (see progress in the log)..."):
        try:
            result = materialize(
                settings,
                [f"{t}_baseline" for t in types],
                instance=instance,
                verbose=state["verbose"],
            )
        except dg.Failure as failure:  # e.g. a V1 that learnt nothing: no default was set
            fail(failure.description or str(failure))
            return
    summary = materialization_summary(result)
    for event in result.get_asset_materialization_events():  # a model the data does not need
        mat = event.materialization
        if "not_needed" in mat.metadata:
            why = mat.metadata["not_needed"]
            summary[mat.asset_key.to_user_string()]["not_needed"] = getattr(why, "value", why)
    emit(summary, as_json, summary_table("baselines", summary))


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Default versions, retrain states, thresholds and live accuracy."""
    from selfimprove_assets.lib.feedback.live import models_overview

    settings = open_settings()
    store = open_store(settings)
    overview = models_overview(store)
    table = Table(title="models")
    for col in ("model", "default", "state", "field", "live accuracy", "n", "threshold"):
        table.add_column(col)
    for model_type, info in overview.items():
        if info["default_version"] is None:
            table.add_row(model_type, "-", "-", "-", "-", "-", "-")
            continue
        fields = info["live"] or {"-": {"accuracy": None, "n": 0}}
        for name, fig in fields.items():
            acc = fig.get("accuracy")
            table.add_row(
                model_type,
                str(info["default_version"]),
                info["retrain_state"],
                name,
                f"{acc:.3f}" if acc is not None else "-",
                str(fig.get("n", 0)),
                f"{info['thresholds'].get(name, float('nan')):.3f}",
            )
    for model_type, info in overview.items():
        auto = info.get("automation")
        if auto:
            qa = ", ".join(
                f"{k} {v['value']:.3f} [{v['lower']:.3f}, {v['upper']:.3f}] n={v['n']}"
                for k, v in auto["qa_accuracy"].items()
                if v["value"] is not None
            )
            table.caption = (table.caption + "\n" if table.caption else "") + (
                f"{model_type}: straight through {auto['document_rate']:.1%} of "
                f"{auto['documents']} documents, {auto['field_rate']:.1%} of fields"
                + (f"; QA accuracy {qa}" if qa else "")
            )
    emit(overview, as_json, table)


def rollback(
    model_type: Annotated[str, typer.Argument(help="classifier or extractor")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make the previous default version the default again (registry and model table)."""
    from selfimprove_assets.api.admin import rollback as rollback_default
    from selfimprove_assets.api.errors import ApiError

    if model_type not in MODEL_TYPES:
        fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    settings = open_settings()
    check_mlflow(settings)
    try:
        result = rollback_default(open_store(settings), settings, model_type, "cli")
    except ApiError as exc:
        fail(exc.message)
        return
    data = result.model_dump()
    table = Table(title="rollback")
    for key in data:
        table.add_column(key)
    table.add_row(*[str(v) for v in data.values()])
    emit(data, as_json, table)


def reset(
    model_type: Annotated[str, typer.Argument(help="classifier or extractor")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit line)")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recover a stuck retrain state: TRIGGERED/INPROGRESS/FAILED becomes IDLE and the rows the
    current cycle had claimed are released (the cycle is marked FAILED). Idempotent."""
    from selfimprove_assets.lib.loop import cycle

    if model_type not in MODEL_TYPES:
        fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    settings = open_settings()
    data = cycle.reset(open_store(settings), model_type, "cli", reason).to_dict()
    emit(data, as_json, what_value_table("reset", data))

"""``selfimprove``: the command line over the library, the API and the Dagster assets."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.types import MODEL_TYPES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    help="selfimprove: document-AI models that get better from reviewers' corrections.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()


def _settings() -> Settings:
    settings = load_settings()
    settings.ensure_dirs()
    return settings


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
    elif table is not None:
        out.print(table)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command("generate-corpus")
def generate_corpus_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the corpus into.")],
    scenario: Annotated[str, typer.Option(help="Drift scenario name.")] = "baseline",
    n: Annotated[int, typer.Option("--n", min=1, help="Number of documents.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    scan_share: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.2,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write a synthetic healthcare intake corpus (PDFs, scans, labels.jsonl)."""
    from selfimprove_assets.lib.documents.synth import SCENARIOS, generate_corpus

    if scenario not in SCENARIOS:
        _fail(f"unknown scenario {scenario!r}; choose one of: {', '.join(sorted(SCENARIOS))}")
    with console.status(f"generating {n} documents ({scenario})..."):
        summary = generate_corpus(out_dir, n=n, seed=seed, scenario=scenario, scan_share=scan_share)
    data = {k: str(v) if isinstance(v, Path) else v for k, v in vars(summary).items()}
    table = Table(title=f"corpus in {out_dir}")
    table.add_column("what")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(
            str(key), json.dumps(value, default=str) if isinstance(value, dict) else str(value)
        )
    _emit(data, as_json, table)


@app.command()
def ingest(
    corpus_dir: Annotated[Path, typer.Argument(help="Folder with files and labels.jsonl.")],
    test_fraction: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.25,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ingest a labeled corpus: extract pages, align labels, split golden and training sets."""
    from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
    from selfimprove_assets.runner import materialize

    if not (corpus_dir / "labels.jsonl").is_file():
        _fail(f"{corpus_dir} has no labels.jsonl (see the labeled-corpus contract in the README)")
    settings = _settings()
    with console.status("ingesting (pages, OCR, alignment, splits)..."):
        result = materialize(
            settings,
            DOCUMENT_ASSET_KEYS,
            run_config={
                "ops": {
                    "source_documents": {"config": {"corpus_dir": str(corpus_dir.resolve())}},
                    "corpus_splits": {"config": {"test_fraction": test_fraction, "seed": seed}},
                }
            },
        )
    summary = _materialization_summary(result)
    _emit(summary, as_json, _summary_table("ingested", summary))


def _summary_table(title: str, summary: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("asset")
    table.add_column("figures")
    for key, meta in summary.items():
        table.add_row(key, ", ".join(f"{k}={v}" for k, v in meta.items()))
    return table


def _materialization_summary(result: Any) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        keep = {}
        for name, value in mat.metadata.items():
            raw = getattr(value, "value", value)
            if isinstance(raw, int | float | str) and not str(raw).startswith(("|", "_")):
                if len(str(raw)) < 80:
                    keep[name] = raw
        summary[mat.asset_key.to_user_string()] = keep
    return summary


@app.command("train-baseline")
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
            _fail(f"unknown model type {t!r}; choose classifier or extractor")
    settings = _settings()
    import dagster as dg

    with console.status(f"training baseline {', '.join(types)} (see progress in the log)..."):
        try:
            result = materialize(settings, [f"{t}_baseline" for t in types])
        except dg.Failure as failure:  # e.g. a V1 that learnt nothing: no default was set
            _fail(failure.description or str(failure))
            return
    summary = _materialization_summary(result)
    for event in result.get_asset_materialization_events():  # a model the data does not need
        mat = event.materialization
        if "not_needed" in mat.metadata:
            why = mat.metadata["not_needed"]
            summary[mat.asset_key.to_user_string()]["not_needed"] = getattr(why, "value", why)
    _emit(summary, as_json, _summary_table("baselines", summary))


@app.command()
def evaluate(
    corpus_dir: Annotated[Path, typer.Argument(help="A labeled folder (labels.jsonl).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score the current default models on a labeled folder."""
    from selfimprove_assets.lib.documents.corpus import read_labels
    from selfimprove_assets.lib.evaluation.corpus_eval import evaluate_folder

    settings = _settings()
    try:
        read_labels(corpus_dir)
    except Exception as exc:  # a clear message instead of a traceback
        _fail(str(exc))
    with console.status("scoring the default models..."):
        report = evaluate_folder(settings, corpus_dir)
    table = Table(title=f"default models on {corpus_dir}")
    for col in ("model", "version", "field", "precision", "recall", "f1 / acc", "n"):
        table.add_column(col)
    for row in report["rows"]:
        table.add_row(
            *[
                str(row[k])
                for k in ("model", "version", "field", "precision", "recall", "score", "n")
            ]
        )
    _emit(report, as_json, table)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Default versions, retrain states, thresholds and live accuracy."""
    from selfimprove_assets.lib.feedback.live import models_overview
    from selfimprove_assets.lib.store.repository import FeedbackStore

    settings = _settings()
    store = FeedbackStore(settings.database_url)
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
    _emit(overview, as_json, table)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API (and the review page)."""
    from selfimprove_assets.api.server import serve as run_server

    settings = _settings()
    if not settings.api_tokens:
        console.print(
            "[yellow]SELFIMPROVE_API_TOKENS is empty: every endpoint but /health will answer "
            "401.[/] Set it like 'tok1:reviewer,tok2:admin'."
        )
    run_server(settings, host=host, port=port)


@app.command()
def simulate(
    api: Annotated[str, typer.Option(help="Base URL of a running API.")],
    corpus: Annotated[Path, typer.Option(help="Labeled folder to stream.")],
    error_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    token: Annotated[
        str | None, typer.Option(help="API token (default: SELFIMPROVE_API_TOKEN).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A reviewer: upload each document, correct it against the ground truth, commit."""
    from selfimprove_assets.lib.documents.corpus import read_labels
    from selfimprove_assets.lib.simulation import ReviewerSimulator

    token = token or os.environ.get("SELFIMPROVE_API_TOKEN")
    if not token:
        _fail("no API token: pass --token or set SELFIMPROVE_API_TOKEN")
    assert token is not None
    try:
        documents = read_labels(corpus)
    except Exception as exc:
        _fail(str(exc))
        return
    sim = ReviewerSimulator(api, token, error_rate=error_rate, rng=random.Random(seed))
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]reviewing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("stream", total=len(documents))
        for start in range(0, len(documents), batch_size):
            sim.review_batch(documents[start : start + batch_size])
            progress.update(task, advance=len(documents[start : start + batch_size]))
    stats = sim.stats | {"seconds": round(time.perf_counter() - started, 2)}
    table = Table(title="simulated review")
    table.add_column("what")
    table.add_column("value")
    for key, value in stats.items():
        table.add_row(key, str(value))
    _emit(stats, as_json, table)
    if stats.get("failed", 0):
        raise typer.Exit(1)


@app.command()
def demo(
    quick: Annotated[bool, typer.Option("--quick", help="Tiny corpus, a few minutes.")] = False,
    scenario: Annotated[str, typer.Option(help="Drift scenario switched on mid-stream.")] = (
        "new_vocabulary"
    ),
    seed: int = 0,
    error_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.02,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The whole self-improving loop on embedded defaults and the synthetic corpus."""
    import dagster as dg

    from selfimprove_assets.demo import DemoOptions, run_demo

    settings = _settings()
    try:
        summary = run_demo(
            settings,
            DemoOptions(quick=quick, scenario=scenario, seed=seed, error_rate=error_rate),
            console,
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    except dg.Failure as failure:  # V1 learnt nothing: stop with the reason, not a traceback
        _fail(failure.description or str(failure))
        return
    table = Table(title=f"selfimprove demo ({summary['seconds']} s)")
    table.add_column("figure")
    for model_type in summary["models"]:
        table.add_column(model_type)
    keys = list(next(iter(summary["models"].values())))
    for key in keys:
        table.add_row(
            key,
            *[
                f"{v:.3f}" if isinstance(v, float) else str(v)
                for v in (summary["models"][t][key] for t in summary["models"])
            ],
        )
    _emit({k: v for k, v in summary.items() if k not in ("series", "live")}, as_json, table)
    console.print(f"report: {summary['report']}")
    console.print(
        f"UI: DAGSTER_HOME={settings.dagster_home} dagster dev -w workspace.yaml   |   "
        f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}"
    )


@app.command()
def rollback(
    model_type: Annotated[str, typer.Argument(help="classifier or extractor")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make the previous default version the default again (registry and model table)."""
    from selfimprove_assets.api.admin import rollback as rollback_default
    from selfimprove_assets.api.errors import ApiError
    from selfimprove_assets.lib.store.repository import FeedbackStore

    if model_type not in MODEL_TYPES:
        _fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    settings = _settings()
    try:
        result = rollback_default(FeedbackStore(settings.database_url), settings, model_type, "cli")
    except ApiError as exc:
        _fail(exc.message)
        return
    data = result.model_dump()
    table = Table(title="rollback")
    for key in data:
        table.add_column(key)
    table.add_row(*[str(v) for v in data.values()])
    _emit(data, as_json, table)


def main() -> None:  # pragma: no cover - console script entry
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# ---------------------------------------------------------------- data in and out (issue 17)


def _interchange_table(title: str, data: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("value")
    for key, value in data.items():
        if key != "skipped_examples":
            table.add_row(key, str(value))
    return table


@app.command("import")
def import_cmd(
    src: Annotated[Path, typer.Argument(help="The export to convert (file or folder).")],
    out_dir: Annotated[Path, typer.Argument(help="New labeled folder (labels.jsonl + files/).")],
    source_format: Annotated[
        str, typer.Option("--from", help="label-studio, funsd or sroie")
    ] = "label-studio",
    doc_type: Annotated[
        str | None, typer.Option(help="Type for documents the source gives none.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Convert labels made elsewhere into the labeled-corpus contract (then `ingest OUT`)."""
    from selfimprove_assets.lib.interchange.common import InterchangeError
    from selfimprove_assets.lib.interchange.importers import run_import

    try:
        with console.status(f"importing {src} ({source_format})..."):
            summary = run_import(source_format, src, out_dir, doc_type=doc_type)
    except InterchangeError as exc:
        _fail(str(exc))
        return
    data = summary.to_dict()
    for line in summary.skipped[:20]:
        console.print(f"[yellow]skipped:[/] {line}")
    _emit(data, as_json, _interchange_table(f"imported into {out_dir}", data))


@app.command("export")
def export_cmd(
    out_dir: Annotated[Path, typer.Argument(help="New folder for the export.")],
    since: Annotated[
        str | None, typer.Option(help="Only documents committed at or after (ISO date/time, UTC).")
    ] = None,
    model_type: Annotated[
        str | None, typer.Option(help="Only documents whose classifier/extractor review is final.")
    ] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="labels-jsonl (re-ingestable) or label-studio")
    ] = "labels-jsonl",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Committed documents with their verified types and entities (and boxes)."""
    from datetime import UTC, datetime

    from selfimprove_assets.lib.interchange.common import InterchangeError
    from selfimprove_assets.lib.interchange.export import export
    from selfimprove_assets.lib.store.repository import FeedbackStore

    if model_type is not None and model_type not in MODEL_TYPES:
        _fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    after = None
    if since is not None:
        try:
            after = datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r} is not an ISO date or date-time (e.g. 2026-12-01)")
            return
        after = after.replace(tzinfo=UTC) if after.tzinfo is None else after.astimezone(UTC)
    settings = _settings()
    store = FeedbackStore(settings.database_url)
    try:
        with console.status(f"exporting committed documents to {out_dir}..."):
            summary = export(
                store, out_dir, since=after, model_type=model_type, format=export_format
            )
    except InterchangeError as exc:
        _fail(str(exc))
        return
    finally:
        store.dispose()
    data = summary.to_dict()
    for line in summary.skipped[:20]:
        console.print(f"[yellow]skipped:[/] {line}")
    _emit(data, as_json, _interchange_table(f"exported to {out_dir}", data))

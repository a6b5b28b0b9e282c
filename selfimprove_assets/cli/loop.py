"""The loop around the models: ``serve`` the API, ``simulate`` a reviewer, run the ``demo``."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from selfimprove_assets.cli.common import (
    check_corpus_folder,
    emit,
    open_settings,
    open_store,
    what_value_table,
)
from selfimprove_assets.cli.errors import console, error_message, fail


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API (and the review page)."""
    from selfimprove_assets.api.server import serve as run_server

    settings = open_settings()
    _check_port(host, port)
    open_store(settings).dispose()
    if not settings.api_tokens:
        console.print(
            "[yellow]SELFIMPROVE_API_TOKENS is empty: every endpoint but /health will answer "
            "401.[/] Set it like 'tok1:reviewer,tok2:admin'."
        )
    run_server(settings, host=host, port=port)


def _check_port(host: str, port: int) -> None:
    """One error line when the address cannot be served (in use, unknown host, no rights)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {error_message(exc)}")
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(address)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or error_message(exc)}")


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
    """A reviewer: upload each document (with its words.jsonl words, if any), correct it
    against the ground truth, commit."""
    import httpx

    from selfimprove_assets.lib.documents.given_words import scan_words
    from selfimprove_assets.lib.documents.labels import scan_labels
    from selfimprove_assets.lib.settings import load_settings
    from selfimprove_assets.lib.simulation import ReviewerSimulator

    token = token or load_settings().api_token
    if not token:
        fail("no API token: pass --token or set SELFIMPROVE_API_TOKEN")
    check_corpus_folder(corpus)
    scan = scan_labels(corpus)
    for problem in scan.problems:
        console.print(f"skipped: {escape(problem.reason)}", soft_wrap=True, highlight=False)
    words = scan_words(corpus, {d.document_id for d in scan.documents})
    for problem in [*words.problems.values(), *words.orphans]:
        console.print(f"skipped: {escape(problem.reason)}", soft_wrap=True, highlight=False)
    documents = [d for d in scan.documents if d.document_id not in words.problems]
    if not documents:
        fail(f"no usable document in {scan.path} ({len(scan.problems)} skipped)")
    try:
        httpx.get(api.rstrip("/") + "/health", timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        fail(f"the API at {api} is unreachable: {error_message(exc)}")
    sim = ReviewerSimulator(
        api, token, error_rate=error_rate, rng=random.Random(seed), words=words.given
    )
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
    emit(stats, as_json, what_value_table("simulated review", stats))
    if stats.get("failed", 0):
        raise typer.Exit(1)


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

    settings = open_settings()
    try:
        summary = run_demo(
            settings,
            DemoOptions(quick=quick, scenario=scenario, seed=seed, error_rate=error_rate),
            console,
        )
    except ValueError as exc:
        fail(str(exc))
        return
    except dg.Failure as failure:  # V1 learnt nothing: stop with the reason, not a traceback
        fail(failure.description or str(failure))
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
    emit({k: v for k, v in summary.items() if k not in ("series", "live")}, as_json, table)
    console.print(f"report: {summary['report']}")
    console.print(
        f"UI: DAGSTER_HOME={settings.dagster_home} dagster dev -w workspace.yaml   |   "
        f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}"
    )

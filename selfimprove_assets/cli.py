"""``selfimprove``: the command line over the library, the API and the Dagster assets."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup
from typer.exceptions import TyperException

from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.types import MODEL_TYPES

if TYPE_CHECKING:
    from selfimprove_assets.lib.store.repository import FeedbackStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Longest error line printed without -v (a strict labels check can list many problems).
MAX_ERROR_CHARS = 1500
_state: dict[str, Any] = {"verbose": False, "signalled": False}


def _one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 30].rstrip() + " ... (-v shows all)"


def _user_facing(exc: BaseException) -> tuple[BaseException, str | None]:
    """The exception a user should read, and the Dagster step it failed in (if any).

    ``execute_in_process`` re-raises the asset's own exception with Dagster's wrapper as its
    context; older paths raise the wrapper (``user_exception`` holds the asset's exception).
    """
    step: str | None = None
    errors = sys.modules.get("dagster._core.errors")
    if errors is None:
        return exc, None
    wrapper: type[BaseException] = errors.DagsterUserCodeExecutionError
    seen: set[int] = set()
    current: BaseException = exc
    while isinstance(current, wrapper) and id(current) not in seen:
        seen.add(id(current))
        step = step or getattr(current, "step_key", None)
        inner = getattr(current, "user_exception", None) or current.__cause__
        if inner is None:
            break
        current = inner
    context = current.__context__
    while step is None and context is not None and id(context) not in seen:
        seen.add(id(context))
        if isinstance(context, wrapper):
            step = getattr(context, "step_key", None)
        context = context.__context__
    return current, step


def _error_message(exc: BaseException) -> str:
    """The exception as one readable line: its message, with its type where that helps."""
    failure = getattr(sys.modules.get("dagster"), "Failure", None)
    if failure is not None and isinstance(exc, failure):
        text = exc.description or str(exc)  # pyright: ignore[reportAttributeAccessIssue]
    else:
        text = str(exc)
    if not text:
        return type(exc).__name__
    if isinstance(exc, ValueError) or (failure is not None and isinstance(exc, failure)):
        return _one_line(text)  # the project's own errors: the message says it all
    return _one_line(f"{type(exc).__name__}: {text}")


def _print_error(message: str) -> None:
    console.print(
        f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False, markup=True
    )


def _hide_library_notices() -> None:
    """Drop MLflow's notes on its own model classes and Dagster's beta/preview notices.

    They say nothing about the user's data. A warnings filter cannot do it: MLflow wraps its
    calls in ``catch_warnings`` + ``simplefilter("once")``, which outranks any filter. ``-v``
    shows them.
    """
    show = warnings.showwarning

    def filtered(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if f"{os.sep}mlflow{os.sep}" in filename or category.__name__ in _NOTICES:
            return
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = filtered


_NOTICES = ("BetaWarning", "PreviewWarning", "SupersessionWarning")


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM and SIGINT stop the command: the first unwinds it (Dagster runs end as
    failed, files are closed), a second one while it still unwinds exits at once."""
    if _state["signalled"]:
        os._exit(128 + signum)
    _state["signalled"] = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _install_signal_handlers() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _on_signal)
    _state["signalled"] = False

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


class _Commands(TyperGroup):
    """Every command's failure becomes one ``error:`` line (and exit code 1) at once.

    Usage errors stay Typer's (exit code 2); ``-v`` prints the traceback before the line.
    Typer's rich tracebacks are off: rendering the locals of Dagster's frames took minutes and
    gigabytes before anything was printed.
    """

    # Typer hands its own Context subclass here; the base class names its vendored click one.
    def invoke(self, ctx: typer.Context) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        restore = _install_signal_handlers()
        show_warning = warnings.showwarning
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors, help, _fail
            raise
        except Exception as exc:
            self._report(ctx, exc)
            raise typer.Exit(1) from None
        except BaseException as exc:
            interrupted = sys.modules.get("dagster._core.errors")
            if not isinstance(exc, KeyboardInterrupt) and not (
                interrupted is not None
                and isinstance(exc, interrupted.DagsterExecutionInterruptedError)
            ):
                raise  # SystemExit and the like pass through
            # Dagster maps SIGTERM onto its SIGINT handler while a run executes, so the signal
            # is only known when it arrived outside a run.
            name = str(exc) if str(exc) in ("SIGINT", "SIGTERM") else ""
            command = ctx.invoked_subcommand or "selfimprove"
            _print_error(f"{command} interrupted" + (f" ({name})" if name else ""))
            raise typer.Exit(143 if name == "SIGTERM" else 130) from None
        finally:
            restore()
            warnings.showwarning = show_warning

    @staticmethod
    def _report(ctx: typer.Context, exc: Exception) -> None:
        if ctx.params.get("verbose") or _state["verbose"]:
            traceback.print_exception(exc, file=sys.stderr)
        cause, step = _user_facing(exc)
        command = ctx.invoked_subcommand or "selfimprove"
        where = f"{command} failed" + (f" in {step}" if step else "")
        _print_error(f"{where}: {_error_message(cause)}")


app = typer.Typer(
    help="selfimprove: document-AI models that get better from reviewers' corrections.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Commands,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def _settings() -> Settings:
    settings = load_settings()
    settings.ensure_dirs()
    return settings


def _fail(message: str, code: int = 1) -> NoReturn:
    _print_error(_one_line(message))
    raise typer.Exit(code)


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
    elif table is not None:
        out.print(table)


def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _store(settings: Settings) -> FeedbackStore:
    """The feedback store, or one error line naming the database that cannot be opened."""
    from selfimprove_assets.lib.store.repository import FeedbackStore

    try:
        return FeedbackStore(settings.database_url)
    except Exception as exc:
        _fail(
            f"cannot open the feedback store {_safe_url(settings.database_url)} "
            f"(SELFIMPROVE_DATABASE_URL): {_error_message(exc)}"
        )


def _check_mlflow(settings: Settings, timeout: float = 10.0) -> None:
    """Fail at once when the MLflow tracking server is unreachable (MLflow's own client would
    retry for minutes); file and database URIs need no server."""
    uri = settings.mlflow_tracking_uri
    if not uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        httpx.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        _fail(
            f"the MLflow tracking server {uri} (SELFIMPROVE_MLFLOW_TRACKING_URI) is unreachable: "
            f"{_error_message(exc)}"
        )


def _corpus_folder(folder: Path) -> None:
    """One error line when a labeled folder is missing or has no labels.jsonl."""
    if not folder.exists():
        _fail(f"corpus folder {folder} does not exist")
    if not folder.is_dir():
        _fail(f"{folder} is not a folder (expected a folder with files and labels.jsonl)")
    if not (folder / "labels.jsonl").is_file():
        _fail(f"{folder} has no labels.jsonl (see the labeled-corpus contract in the README)")


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Full logs, and a traceback on errors.")
    ] = False,
) -> None:
    _state["verbose"] = verbose
    if not verbose:
        _hide_library_notices()
        warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
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
    if out_dir.exists() and not out_dir.is_dir():
        _fail(f"{out_dir} exists and is not a folder")
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
    _corpus_folder(corpus_dir)
    from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS, QUARANTINE_FILE
    from selfimprove_assets.runner import materialize

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
            verbose=_state["verbose"],
        )
    summary = _materialization_summary(result)
    quarantined: list[dict[str, Any]] = result.asset_value("document_pages").get("quarantined", [])
    _emit(summary | {"quarantined": quarantined}, as_json, _summary_table("ingested", summary))
    if quarantined and not as_json:
        table = Table(title=f"quarantined: {len(quarantined)} document(s) not ingested")
        for col in ("document_id", "file", "reason"):
            table.add_column(col, overflow="fold")
        for row in quarantined:
            table.add_row(
                *[escape(str(row.get(k) or "-")) for k in ("document_id", "file", "reason")]
            )
        out.print(table)
        out.print(f"quarantine list: {settings.home / Path(*QUARANTINE_FILE)}", soft_wrap=True)


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

    from selfimprove_assets.runner import prepare_instance

    instance = prepare_instance(settings)
    if instance.get_latest_materialization_event(dg.AssetKey("initial_training_set")) is None:
        _fail(
            f"no ingested corpus in {settings.home} (SELFIMPROVE_HOME): run "
            "`selfimprove ingest DIR` first"
        )
    _check_mlflow(settings)
    _store(settings).dispose()
    with console.status(f"training baseline {', '.join(types)} (see progress in the log)..."):
        try:
            result = materialize(
                settings,
                [f"{t}_baseline" for t in types],
                instance=instance,
                verbose=_state["verbose"],
            )
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
    split: Annotated[
        str | None,
        typer.Option("--split", help="Score only this split of the folder's splits.json (test)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score the current default models on a labeled folder, against its labels as written.

    Every labeled entity counts (one the OCR or the alignment cannot find is a miss); alignment
    coverage and OCR word recall are reported beside the scores."""
    from selfimprove_assets.lib.documents.corpus import read_labels
    from selfimprove_assets.lib.evaluation.corpus_eval import evaluate_folder

    settings = _settings()
    try:
        read_labels(corpus_dir)
        with console.status("scoring the default models..."):
            report = evaluate_folder(settings, corpus_dir, split=split)
    except ValueError as exc:  # corpus, split or missing-default problems: a clear message
        _fail(str(exc))
        return
    table = Table(title=f"default models on {corpus_dir} ({report['split']})")
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
    if as_json:
        return
    coverage = report["coverage"]
    aligned = Table(title="alignment coverage (labeled entities placed on page words)")
    for col in ("label", "aligned", "total", "coverage", "unaligned"):
        aligned.add_column(col)
    for row in report["coverage_rows"]:
        aligned.add_row(
            *[str(row[k]) for k in ("label", "aligned", "total", "coverage", "unaligned")]
        )
    out.print(aligned)
    scanned = coverage.get("ocr_word_recall_scanned")
    out.print(
        f"documents {report['documents']} of {report['labeled_documents']}"
        f" (rejected {len(report['rejected'])}); entities aligned "
        f"{coverage['entities_aligned']}/{coverage['entities_total']} "
        f"({coverage['alignment_coverage']:.3f}); OCR word recall "
        f"{coverage['ocr_word_recall']:.3f} of {coverage['labeled_words']} labeled words"
        + (
            f" ({scanned:.3f} on {coverage['scanned_documents']} scanned)"
            if scanned is not None
            else ""
        )
    )
    for line in report["rejected"]:
        out.print(f"rejected: {line}")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Default versions, retrain states, thresholds and live accuracy."""
    from selfimprove_assets.lib.feedback.live import models_overview

    settings = _settings()
    store = _store(settings)
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
    _check_port(host, port)
    _store(settings).dispose()
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
        _fail(f"cannot serve on {host}:{port}: {_error_message(exc)}")
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(address)
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or _error_message(exc)}")


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
    import httpx

    from selfimprove_assets.lib.documents.corpus import scan_labels
    from selfimprove_assets.lib.simulation import ReviewerSimulator

    token = token or os.environ.get("SELFIMPROVE_API_TOKEN")
    if not token:
        _fail("no API token: pass --token or set SELFIMPROVE_API_TOKEN")
    _corpus_folder(corpus)
    scan = scan_labels(corpus)
    for problem in scan.problems:
        console.print(f"skipped: {escape(problem.reason)}", soft_wrap=True, highlight=False)
    documents = scan.documents
    if not documents:
        _fail(f"no usable document in {scan.path} ({len(scan.problems)} skipped)")
    try:
        httpx.get(api.rstrip("/") + "/health", timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        _fail(f"the API at {api} is unreachable: {_error_message(exc)}")
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

    if model_type not in MODEL_TYPES:
        _fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    settings = _settings()
    _check_mlflow(settings)
    try:
        result = rollback_default(_store(settings), settings, model_type, "cli")
    except ApiError as exc:
        _fail(exc.message)
        return
    data = result.model_dump()
    table = Table(title="rollback")
    for key in data:
        table.add_column(key)
    table.add_row(*[str(v) for v in data.values()])
    _emit(data, as_json, table)


@app.command()
def reset(
    model_type: Annotated[str, typer.Argument(help="classifier or extractor")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit line)")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recover a stuck retrain state: TRIGGERED/INPROGRESS/FAILED becomes IDLE and the rows the
    current cycle had claimed are released (the cycle is marked FAILED). Idempotent."""
    from selfimprove_assets.lib.monitor.reset import reset_retrain_state

    if model_type not in MODEL_TYPES:
        _fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    settings = _settings()
    data = reset_retrain_state(_store(settings), model_type, "cli", reason).to_dict()
    table = Table(title="reset")
    table.add_column("what")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, str(value))
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

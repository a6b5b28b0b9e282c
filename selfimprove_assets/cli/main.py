"""``selfimprove``: the command line over the library, the API and the Dagster assets.

This module builds the Typer app: the global error handling every command runs under, the
``-v`` flag, and the commands, which live by subject in ``corpus``, ``models`` and ``loop``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from selfimprove_assets.cli import config, corpus, loop, models
from selfimprove_assets.cli.errors import (
    error_message,
    hide_library_notices,
    install_signal_handlers,
    print_error,
    state,
    user_facing,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class _Commands(TyperGroup):
    """Every command's failure becomes one ``error:`` line (and exit code 1) at once.

    Usage errors stay Typer's (exit code 2); ``-v`` prints the traceback before the line.
    Typer's rich tracebacks are off: rendering the locals of Dagster's frames took minutes and
    gigabytes before anything was printed.
    """

    # Typer hands its own Context subclass here; the base class names its vendored click one.
    def invoke(self, ctx: typer.Context) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        restore = install_signal_handlers()
        show_warning = warnings.showwarning
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors, help, fail()
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
            print_error(f"{command} interrupted" + (f" ({name})" if name else ""))
            raise typer.Exit(143 if name == "SIGTERM" else 130) from None
        finally:
            restore()
            warnings.showwarning = show_warning

    @staticmethod
    def _report(ctx: typer.Context, exc: Exception) -> None:
        if ctx.params.get("verbose") or state["verbose"]:
            traceback.print_exception(exc, file=sys.stderr)
        cause, step = user_facing(exc)
        command = ctx.invoked_subcommand or "selfimprove"
        where = f"{command} failed" + (f" in {step}" if step else "")
        print_error(f"{where}: {error_message(cause)}")


app = typer.Typer(
    help="selfimprove: document-AI models that get better from reviewers' corrections.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Commands,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Full logs, and a traceback on errors.")
    ] = False,
) -> None:
    state["verbose"] = verbose
    if not verbose:
        hide_library_notices()
        warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# The commands, in the order `selfimprove --help` lists them.
app.command("generate-corpus")(corpus.generate_corpus_cmd)
app.command()(corpus.ingest)
app.command("train-baseline")(models.train_baseline)
app.command()(corpus.evaluate)
app.command()(models.status)
app.command("settings")(config.settings_cmd)
app.command()(loop.serve)
app.command()(loop.simulate)
app.command()(loop.demo)
app.command()(models.rollback)
app.command()(models.reset)
app.command("import")(corpus.import_cmd)
app.command("export")(corpus.export_cmd)


def main() -> None:  # pragma: no cover - console script entry
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

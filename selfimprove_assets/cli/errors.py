"""How the CLI fails: one readable ``error:`` line, library notices hidden, signals that stop
the command cleanly."""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape

# Longest error line printed without -v (a strict labels check can list many problems).
MAX_ERROR_CHARS = 1500
# The command line's run-wide flags: ``-v`` given, a signal already received.
state: dict[str, Any] = {"verbose": False, "signalled": False}
# Progress, notes and errors go to stderr; results (tables, JSON) to stdout.
console = Console(stderr=True)


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 30].rstrip() + " ... (-v shows all)"


def user_facing(exc: BaseException) -> tuple[BaseException, str | None]:
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


def error_message(exc: BaseException) -> str:
    """The exception as one readable line: its message, with its type where that helps."""
    failure = getattr(sys.modules.get("dagster"), "Failure", None)
    if failure is not None and isinstance(exc, failure):
        text = exc.description or str(exc)  # pyright: ignore[reportAttributeAccessIssue]
    else:
        text = str(exc)
    if not text:
        return type(exc).__name__
    if isinstance(exc, ValueError) or (failure is not None and isinstance(exc, failure)):
        return one_line(text)  # the project's own errors: the message says it all
    return one_line(f"{type(exc).__name__}: {text}")


def print_error(message: str) -> None:
    console.print(
        f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False, markup=True
    )


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command with one error line and exit code ``code``."""
    print_error(one_line(message))
    raise typer.Exit(code)


def hide_library_notices() -> None:
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
    if state["signalled"]:
        os._exit(128 + signum)
    state["signalled"] = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_handlers() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _on_signal)
    state["signalled"] = False

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore

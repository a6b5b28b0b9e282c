"""Long-running processes of a deployment, started as an operator starts them.

Each service runs in its own session (process group), so stopping it ends what it spawned too
(the code servers of the daemon and the webserver, their run workers and training jobs). Its
output goes to a log file that the tests attach to a failure report.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceDied(RuntimeError):
    """A service exited while the test was waiting on it."""


@dataclass
class Service:
    """One process (and its process group) with its output in ``log_path``."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = PROJECT_ROOT
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Raise when the service was started and has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ServiceDied(
                f"{self.name} exited with {self.process.returncode}; its log ends:\n"
                f"{self.log()[-4000:]}"
            )

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the whole group, SIGKILL after ``grace`` seconds; reaps the leader."""
        if self.process is None:
            return
        pid = self.process.pid
        if self.process.poll() is None:
            _signal_group(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        # children that outlived their leader (a run worker, a training job) go too
        _signal_group(pid, signal.SIGKILL)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace")


def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    services: Sequence[Service] = (),
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something other than None/False, or fail.

    Fails at once when one of ``services`` exits, and after ``timeout`` seconds with ``what``
    and, when given, ``describe()`` (the state the test was looking at).
    """
    deadline = time.monotonic() + timeout
    while True:
        for service in services:
            service.check()
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            state = f"\nlast state: {describe()}" if describe is not None else ""
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s{state}")
        time.sleep(POLL_SECONDS)

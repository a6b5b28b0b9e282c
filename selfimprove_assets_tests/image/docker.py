"""Containers of the image test, driven with the plain ``docker`` client (host networking only).

Every container runs with ``--network host``: these machines never send to private-range
addresses, so there is no bridge; services listen on 127.0.0.1 on free ports. Each container
started through ``Containers`` is removed at teardown, whatever the test's outcome.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
IMAGE = os.environ.get("SELFIMPROVE_TEST_IMAGE", "selfimprove:test")
POSTGRES_IMAGE = os.environ.get("SELFIMPROVE_TEST_POSTGRES_IMAGE", "selfimprove-postgres:test")


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS``; a failure names the command and its output."""
    result = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)[:300]} exited with {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result


def run_once(
    image: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``docker run --rm`` of a one-off command (host network); the result, not checked."""
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return docker(
        "run", "--rm", "--network", "host", *flags, image, *args, timeout=timeout, check=False
    )


@dataclass
class Container:
    name: str

    def logs(self) -> str:
        result = docker("logs", "--tail", "400", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, str]:
        """``Status`` (running, exited...), ``ExitCode`` and ``Health`` (or "none")."""
        health = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
        fmt = "{{.State.Status}}|{{.State.ExitCode}}|" + health
        result = docker("inspect", "--format", fmt, self.name, check=False)
        if result.returncode != 0:
            return {"Status": "missing", "ExitCode": "", "Health": "none"}
        status, code, health = result.stdout.strip().split("|")
        return {"Status": status, "ExitCode": code, "Health": health}

    def check(self) -> None:
        """Raise when the container is no longer running (with the end of its log)."""
        state = self.state()
        if state["Status"] != "running":
            raise RuntimeError(
                f"container {self.name} is {state['Status']} (exit {state['ExitCode']}); "
                f"its log ends:\n{self.logs()[-4000:]}"
            )


@dataclass
class Containers:
    """The containers of one test; ``remove_all`` at teardown."""

    prefix: str = field(default_factory=lambda: f"si-test-{uuid.uuid4().hex[:8]}")
    started: list[Container] = field(default_factory=list)

    def start(
        self,
        role: str,
        image: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        volumes: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> Container:
        container = Container(f"{self.prefix}-{role}")
        self.started.append(container)  # before it runs: removed even if the start fails
        flags = ["--network", "host", "--name", container.name, "--detach"]
        flags += [f"--env={k}={v}" for k, v in env.items()]
        flags += [f"--volume={v}" for v in volumes]
        docker("run", *flags, *extra, image, *args, timeout=120)
        return container

    def logs(self) -> dict[str, str]:
        return {c.name: c.logs() for c in self.started}

    def remove_all(self) -> None:
        for container in reversed(self.started):
            docker("rm", "--force", "--volumes", container.name, timeout=120, check=False)

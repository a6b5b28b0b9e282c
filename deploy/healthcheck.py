"""The image's HEALTHCHECK: one check for whichever service the container runs.

PID 1 is the service the entrypoint exec'd; its command line names it and its port:
``selfimprove serve`` answers ``/health``, ``dagster-webserver`` ``/server_info``, ``mlflow
server`` ``/health``, and ``dagster-daemon run`` is checked with ``dagster-daemon
liveness-check`` (its heartbeats in the instance). A container running anything else (a
training job, a one-off command) is healthy while it runs. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

DEFAULT_PORTS = {"api": 8000, "webserver": 3000, "mlflow": 5000}
PATHS = {"api": "/health", "webserver": "/server_info", "mlflow": "/health"}


def service(argv: list[str]) -> str | None:
    names = [Path(a).name for a in argv[:3]]
    if "selfimprove" in names and "serve" in argv:
        return "api"
    if "dagster-webserver" in names:
        return "webserver"
    if "dagster-daemon" in names and "run" in argv:
        return "daemon"
    if "mlflow" in names and "server" in argv:
        return "mlflow"
    return None


def port(argv: list[str], name: str) -> int:
    """The last ``--port``/``-p`` given (``--port N`` or ``--port=N``), else the default."""
    found = DEFAULT_PORTS[name]
    for i, arg in enumerate(argv):
        if arg in ("--port", "-p") and i + 1 < len(argv):
            found = int(argv[i + 1])
        elif arg.startswith("--port="):
            found = int(arg.split("=", 1)[1])
    return found


def main() -> int:
    argv = Path("/proc/1/cmdline").read_bytes().decode().split("\0")[:-1]
    name = service(argv)
    if name is None:
        return 0
    if name == "daemon":
        return subprocess.run(["dagster-daemon", "liveness-check"], timeout=60).returncode
    url = f"http://127.0.0.1:{port(argv, name)}{PATHS[name]}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        sys.stderr.write(f"{url}: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())

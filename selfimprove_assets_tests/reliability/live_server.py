"""``selfimprove serve`` as a real subprocess on a free loopback port, killable with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.api.conftest import TOKENS, TinyModels, register


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(models: TinyModels, home: Path, database_url: str) -> dict[str, str]:
    """Everything the server needs comes from the environment, as in production."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "OMP_THREAD_LIMIT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        {
            "SELFIMPROVE_HOME": str(home),
            "SELFIMPROVE_DATABASE_URL": database_url,
            "SELFIMPROVE_MLFLOW_TRACKING_URI": models.tracking_uri,
            "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT": models.artifact_root,
            "SELFIMPROVE_BACKBONE": models.backbone,
            "SELFIMPROVE_API_TOKENS": TOKENS,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",  # the access log reaches the file as it happens
        }
    )
    return env


@dataclass
class LiveServer:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        command = Path(sys.executable).parent / "selfimprove"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(command), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                health = httpx.get(f"{self.url}/health", timeout=2.0)
                if health.status_code == 200 and all(health.json()["models"].values()):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"server not ready after {timeout} s: {self.log()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, in-flight requests are cut."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def serve_v1(models: TinyModels, database_url: str, root: Path) -> tuple[FeedbackStore, LiveServer]:
    """A store at ``database_url`` whose defaults are both tiny models' v1, and a started server
    over it (its home and log under ``root``)."""
    store = FeedbackStore(database_url)
    register(store, models, "classifier", "1")
    register(store, models, "extractor", "1")
    server = LiveServer(server_env(models, root / "home", database_url), root / "log")
    server.start()
    return store, server

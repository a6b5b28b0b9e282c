"""The whole stack as containers of the image: PostgreSQL, MLflow, API, Dagster webserver and
daemon, on host networking and free ports (the test variant of docker-compose.yaml).

The deployment's folder (``root``) is bind-mounted at the same path in every container, so a
path is the same on the host and inside: the world that the bootstrap container writes there
(the tiny backbone, the stream) is what the host reviews through the API. The containers run
as the image's user (uid 10001); the folder is made writable for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

from selfimprove_assets_tests.image.docker import IMAGE, POSTGRES_IMAGE, Container, Containers
from selfimprove_assets_tests.production.deployment import ADMIN_TOKEN, LOOP_SETTINGS
from selfimprove_assets_tests.production.deployment import REVIEWER_TOKEN as REVIEWER_TOKEN
from selfimprove_assets_tests.production.graphql import DAEMONS_QUERY, WORKSPACE_QUERY
from selfimprove_assets_tests.production.services import PROJECT_ROOT, free_port

T = TypeVar("T")
START_TIMEOUT = 600.0  # a service coming up on a busy two-core machine (the code server)
BOOTSTRAP_TIMEOUT = 900.0  # ingest and train V1 of both tiny models in a container
DATABASES = ("selfimprove", "dagster", "mlflow")


def wait(
    condition: Callable[[], T | None | bool],
    *,
    timeout: float,
    what: str,
    containers: list[Container] = (),  # type: ignore[assignment]
) -> T:
    """Poll until ``condition`` is truthy; fail at once when a container stops, or at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        for container in containers:
            container.check()
        value = condition()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(1.0)


@dataclass
class ImageStack:
    root: Path
    containers: Containers
    pg_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    services: dict[str, Container] = field(default_factory=dict)
    location: str = ""

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://selfimprove@127.0.0.1:{self.pg_port}/{database}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        """The deployment's whole configuration, as docker-compose.yaml sets it."""
        mlflow = f"127.0.0.1:{self.mlflow_port}"
        return {
            "SELFIMPROVE_HOME": str(self.root / "home"),
            "DAGSTER_HOME": str(self.root / "home" / "dagster"),
            "SELFIMPROVE_DATABASE_URL": self.url("selfimprove"),
            "SELFIMPROVE_MLFLOW_TRACKING_URI": f"http://{mlflow}",
            "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT": f"mlflow-artifacts://{mlflow}/selfimprove",
            "SELFIMPROVE_API_TOKENS": f"{REVIEWER_TOKEN}:reviewer,{ADMIN_TOKEN}:admin",
            "SELFIMPROVE_BACKBONE": str(self.root / "world" / "tiny-backbone"),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.pg_port),
            "DAGSTER_PG_USER": "selfimprove",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
            "OMP_NUM_THREADS": "1",
            **LOOP_SETTINGS,
            # the test is about the path through the containers, not a retrain: the sensor
            # observes the commits and waits for more evidence
            "SELFIMPROVE_MONITOR_MIN_COMMITS": "1000",
        }

    @property
    def volume(self) -> str:
        return f"{self.root}:{self.root}"

    def start(self, role: str, args: list[str], image: str = IMAGE, **kw: Any) -> Container:
        container = self.containers.start(
            role, image, args, env=self.env, volumes=[self.volume], **kw
        )
        self.services[role] = container
        return container

    # --- PostgreSQL and MLflow ---------------------------------------------------------

    def start_postgres(self) -> None:
        pg = self.containers.start(
            "postgres", POSTGRES_IMAGE, [], env={"PGPORT": str(self.pg_port)}
        )
        self.services["postgres"] = pg
        wait(self._pg_ready, timeout=START_TIMEOUT, what="PostgreSQL answering", containers=[pg])
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            for name in DATABASES:
                conn.execute(f'CREATE DATABASE "{name}"')

    def _pg_ready(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=3):
                return True
        except psycopg.OperationalError:
            return False

    def start_mlflow(self) -> None:
        host = f"127.0.0.1:{self.mlflow_port}"
        mlflow = self.start(
            "mlflow",
            [
                "mlflow",
                "server",
                "--host=127.0.0.1",
                f"--port={self.mlflow_port}",
                f"--backend-store-uri={self.url('mlflow', 'postgresql+psycopg2')}",
                "--serve-artifacts",
                f"--artifacts-destination={self.root / 'mlflow-artifacts'}",
                f"--default-artifact-root=mlflow-artifacts://{host}/selfimprove",
                f"--allowed-hosts=localhost,{host},127.0.0.1",
                "--workers=1",
            ],
        )
        wait(
            lambda: self._ok(f"http://{host}/health"),
            timeout=START_TIMEOUT,
            what="the MLflow server answering /health",
            containers=[mlflow],
        )

    # --- the selfimprove services -------------------------------------------------------

    def bootstrap(self) -> None:
        """Build the world and train V1 in a one-off container of the image."""
        tests = PROJECT_ROOT / "selfimprove_assets_tests"
        boot = self.containers.start(
            "bootstrap",
            IMAGE,
            ["python", "-m", "selfimprove_assets_tests.image.bootstrap", str(self.root)],
            env={**self.env, "PYTHONPATH": "/tests"},
            volumes=[self.volume, f"{tests}:/tests/selfimprove_assets_tests:ro"],
        )
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT
        while boot.state()["Status"] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bootstrap did not end within {BOOTSTRAP_TIMEOUT:.0f} s")
            time.sleep(2.0)
        state = boot.state()
        assert state["ExitCode"] == "0", f"the bootstrap failed ({state}):\n{boot.logs()[-6000:]}"

    def start_services(self) -> None:
        self.start("api", ["api", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self.start("webserver", ["webserver", "-h", "127.0.0.1", "-p", str(self.web_port)])
        self.start("daemon", ["daemon"])

    def running(self) -> list[Container]:
        return [
            self.services[r]
            for r in ("postgres", "mlflow", "api", "webserver", "daemon")
            if r in self.services
        ]

    def wait_ready(self) -> None:
        wait(
            lambda: (h := self.health()) is not None and h.get("extractor") == "1",
            timeout=START_TIMEOUT,
            what="the API container serving extractor v1",
            containers=self.running(),
        )
        self.location = wait(
            self._loaded_location,
            timeout=START_TIMEOUT,
            what="the webserver container with the code location loaded",
            containers=self.running(),
        )
        needed = {"SENSOR", "QUEUED_RUN_COORDINATOR"}
        wait(
            lambda: needed <= {k for k, ok in self.daemons().items() if ok},
            timeout=START_TIMEOUT,
            what=f"the daemon container's {sorted(needed)} healthy",
            containers=self.running(),
        )

    # --- clients ----------------------------------------------------------------------

    @staticmethod
    def _ok(url: str) -> bool:
        try:
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def health(self) -> dict[str, str | None] | None:
        try:
            response = httpx.get(f"{self.api_url}/health", timeout=5)
        except httpx.TransportError:
            return None
        return dict(response.json()["models"]) if response.status_code == 200 else None

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.web_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return dict(body["data"])

    def daemons(self) -> dict[str, bool]:
        statuses = self.graphql(DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: bool(s["healthy"]) for s in statuses if s["required"]}

    def _loaded_location(self) -> str | None:
        try:
            data = self.graphql(WORKSPACE_QUERY)
        except httpx.TransportError:
            return None
        for entry in data["workspaceOrError"].get("locationEntries", []):
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                raise RuntimeError(f"the code location failed to load: {loaded['message']}")
            if loaded.get("__typename") == "RepositoryLocation":
                return str(entry["name"])
        return None

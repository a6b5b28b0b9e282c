"""A deployment on this machine, as a team runs it: API server, Dagster daemon and webserver.

The three are separate processes started with the project's commands (``selfimprove serve``,
``dagster-daemon run`` and ``dagster-webserver`` on the project's ``workspace.yaml``), configured
only through the environment (``SELFIMPROVE_*``, ``DAGSTER_HOME``). The Dagster instance is the
project's ``dagster.yaml`` (SQLite) or ``deploy/dagster.postgres.yaml`` (PostgreSQL), copied into
``SELFIMPROVE_HOME/dagster`` as ``selfimprove`` and ``make ui`` do. Only the backbone is small:
a tiny BERT written to disk, the same mechanism as a production backbone path.

Before the services start, the corpus is ingested and V1 of both models trained on the same
instance (the assets a team materializes first); everything after that goes through the
services: documents and reviews through the API's HTTP endpoints, the retraining through the
daemon's sensors, runs launched and observed through the webserver's GraphQL API.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from selfimprove_assets.lib.documents.labels import LabeledDocument
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets_tests.production.deployment import (
    BIN,
    REVIEWER,
    REVIEWER_TOKEN,
    Backend,
    World,
    bootstrap,
    deployment_env,
)
from selfimprove_assets_tests.production.graphql import (
    DAEMONS_QUERY,
    LAUNCH_MUTATION,
    RUN_LOGS_QUERY,
    RUNS_QUERY,
    SENSOR_TICKS_QUERY,
    WORKSPACE_QUERY,
)
from selfimprove_assets_tests.production.services import (
    PROJECT_ROOT,
    Service,
    free_port,
    wait_for,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What the daemon says about the loop: the accuracy sensor's trigger and launch, the queue
# launching runs, the failure sensor acting on a failed run.
DAEMON_MARKERS = (
    "triggering extractor retraining",
    "Creating new run for extractor_accuracy_sensor",
    "Completed launch of run",
    "QueuedRunCoordinatorDaemon - INFO - Launched",
    "acted on run status",
)

# How long a service may take to come up on a busy two-core machine.
START_TIMEOUT = 240.0


@dataclass
class Stack:
    """The three services of one deployment and the clients that talk to them."""

    root: Path
    env: dict[str, str]
    api: Service
    daemon: Service
    webserver: Service
    api_port: int
    web_port: int
    location: str = ""

    @property
    def services(self) -> list[Service]:
        return [self.api, self.daemon, self.webserver]

    @property
    def settings(self) -> Settings:
        return load_settings(self.env)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- the API -------------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``: default and served version, retrain state, per model type."""
        response = httpx.get(f"{self.api_url}/v1/models", headers=REVIEWER, timeout=60)
        response.raise_for_status()
        return dict(response.json()["models"])

    def health(self) -> dict[str, str | None] | None:
        try:
            response = httpx.get(f"{self.api_url}/health", timeout=5)
        except httpx.TransportError:
            return None
        return dict(response.json()["models"]) if response.status_code == 200 else None

    def review(self, documents: Sequence[LabeledDocument], batch: int = 8) -> ReviewerSimulator:
        """Upload, review and commit ``documents`` through the API, ``batch`` per commit."""
        simulator = ReviewerSimulator(self.api_url, REVIEWER_TOKEN)
        for start in range(0, len(documents), batch):
            simulator.review_batch(documents[start : start + batch])
        assert simulator.stats["failed"] == 0, simulator.stats
        return simulator

    # --- the webserver's GraphQL API ----------------------------------------------------

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

    def runs(self, **run_filter: Any) -> list[dict[str, Any]]:
        data = self.graphql(RUNS_QUERY, {"filter": run_filter})
        runs = data["runsOrError"]
        assert "results" in runs, runs
        return list(runs["results"])

    def run(self, run_id: str) -> dict[str, Any]:
        (found,) = self.runs(runIds=[run_id])
        return found

    def sensor_ticks(self, sensor: str, limit: int = 20) -> list[dict[str, Any]]:
        selector = {
            "repositoryLocationName": self.location,
            "repositoryName": "__repository__",
            "sensorName": sensor,
        }
        data = self.graphql(SENSOR_TICKS_QUERY, {"selector": selector, "limit": limit})
        sensor_data = data["sensorOrError"]
        assert "sensorState" in sensor_data, sensor_data
        return list(sensor_data["sensorState"]["ticks"])

    def daemons(self) -> dict[str, bool]:
        data = self.graphql(DAEMONS_QUERY)
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: bool(s["healthy"]) for s in statuses if s["required"]}

    def launch_assets(self, assets: Sequence[str], run_config: dict[str, Any]) -> str:
        """Materialize ``assets`` as the UI's "Materialize" button does (``__ASSET_JOB``)."""
        params = {
            "selector": {
                "repositoryLocationName": self.location,
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [a]} for a in assets],
            },
            "mode": "default",
            "runConfigData": run_config,
        }
        data = self.graphql(LAUNCH_MUTATION, {"params": params})
        launched = data["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return str(launched["run"]["runId"])

    def run_log(self, run_id: str) -> list[str]:
        """The run's event log as ``EVENT_TYPE step: message`` lines (what the UI shows)."""
        lines: list[str] = []
        cursor: str | None = None
        while True:
            data = self.graphql(RUN_LOGS_QUERY, {"runId": run_id, "cursor": cursor})
            logs = data["logsForRun"]
            assert "events" in logs, logs
            for event in logs["events"]:
                step = event.get("stepKey") or ""
                error = event.get("error") or event.get("pipelineFailureError") or {}
                text = " ".join(filter(None, [event.get("message"), error.get("message")]))
                lines.append(f"{event['__typename']} {step}: {text}")
            if not logs["hasMore"]:
                return lines
            cursor = logs["cursor"]

    def cycle_excerpt(self, run_id: str) -> list[str]:
        """The daemon's lines about a sensor-driven cycle (the trigger, the launch, the failure
        sensor's reactions) and the run's own lines about its decision, in that order."""
        lines = [ANSI.sub("", line).strip() for line in self.daemon.log().splitlines()]
        daemon = [line[:300] for line in lines if any(m in line for m in DAEMON_MARKERS)]
        run = [
            f"run {run_id[:8]}: {line}"
            for line in self.run_log(run_id)
            if line.startswith(
                (
                    "LogMessageEvent extractor_evaluation",
                    "LogMessageEvent extractor_champion",
                    "RunSuccessEvent",
                    "RunFailureEvent",
                )
            )
            and "IOManager" not in line
        ]
        return daemon + run

    # --- lifecycle --------------------------------------------------------------------

    def wait_ready(self) -> None:
        """API serving both V1s, webserver with the code location loaded, daemons healthy."""
        wait_for(
            lambda: (h := self.health()) is not None and h.get("extractor") == "1",
            timeout=START_TIMEOUT,
            what="the API serving extractor v1",
            services=self.services,
        )
        self.location = wait_for(
            self._loaded_location,
            timeout=START_TIMEOUT,
            what="the webserver with the code location loaded",
            services=self.services,
        )
        needed = {"SENSOR", "QUEUED_RUN_COORDINATOR"}
        wait_for(
            lambda: needed <= {k for k, healthy in self.daemons().items() if healthy},
            timeout=START_TIMEOUT,
            what=f"the daemons {sorted(needed)} healthy",
            services=self.services,
            describe=lambda: str(self.daemons()),
        )

    def _loaded_location(self) -> str | None:
        try:
            data = self.graphql(WORKSPACE_QUERY)
        except httpx.TransportError:
            return None
        entries = data["workspaceOrError"].get("locationEntries", [])
        for entry in entries:
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                raise RuntimeError(f"the code location failed to load: {loaded['message']}")
            if loaded.get("__typename") == "RepositoryLocation":
                return str(entry["name"])
        return None

    def stop(self) -> None:
        for service in self.services:
            service.stop()

    def logs(self) -> dict[str, str]:
        return {s.name: s.log() for s in self.services}


StartDeployment = Callable[[Backend], Stack]


def start_stack(
    root: Path, world: World, backend: Backend, registry: list[Stack] | None = None
) -> Stack:
    """Ingest and train V1 on the instance, then start the API, the daemon and the webserver.

    The stack is added to ``registry`` before its services start (a caller that owns the
    registry stops them, and can read their logs when they fail to come up)."""
    home = root / "home"
    env = deployment_env(home, world.backbone, backend)
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backend.dagster_yaml, dagster_home / "dagster.yaml")
    bootstrap(world, env)
    api_port, web_port = free_port(), free_port()
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    stack = Stack(
        root=root,
        env=env,
        api=Service(
            "api",
            [str(BIN / "selfimprove"), "serve", "--host", "127.0.0.1", "--port", str(api_port)],
            env,
            logs / "api.log",
        ),
        daemon=Service(
            "dagster-daemon",
            [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            env,
            logs / "daemon.log",
        ),
        webserver=Service(
            "dagster-webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port)]
            + ["-w", workspace],
            env,
            logs / "webserver.log",
        ),
        api_port=api_port,
        web_port=web_port,
    )
    if registry is not None:
        registry.append(stack)
    try:
        for service in stack.services:
            service.start()
        stack.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack

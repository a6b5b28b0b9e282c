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

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import httpx

from selfimprove_assets.lib.documents.labels import LabeledDocument, read_labels, write_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets_tests.production.services import (
    PROJECT_ROOT,
    Service,
    free_port,
    wait_for,
)

BIN = Path(sys.executable).parent
REVIEWER_TOKEN = "production-reviewer-token"
ADMIN_TOKEN = "production-admin-token"
REVIEWER = {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ONE_TYPE = "intake_form"

# The loop's rules and recipe for a test-size stream on the tiny backbone, set the way a team
# sets them (lib/settings.py: SELFIMPROVE_<SECTION>_<KEY>). The promotion policy promotes on
# non-regression with room for the tiny models' noise: what is under test is the path (the
# daemon's sensor, the run, the promotion, the swap), not the policy, which has its own tests.
LOOP_SETTINGS: dict[str, str] = {
    "SELFIMPROVE_MONITOR_MIN_COMMITS": "10",
    "SELFIMPROVE_MONITOR_MIN_CORRECTIONS": "0",
    "SELFIMPROVE_TRAINING_EPOCHS": "4",
    "SELFIMPROVE_TRAINING_WARM_START_EPOCHS": "3",
    "SELFIMPROVE_TRAINING_MIN_STEPS": "0",
    "SELFIMPROVE_TRAINING_LEARNING_RATE": "0.01",
    "SELFIMPROVE_TRAINING_FULL_FINETUNE_TYPES": "",
    "SELFIMPROVE_TRAINING_MAX_LENGTH": "128",  # the tiny backbone's positions
    "SELFIMPROVE_PROMOTION_REQUIRE_SIGNIFICANT_IMPROVEMENT_ON": "",
    "SELFIMPROVE_PROMOTION_GOLDEN_TOLERANCE": "1.0",
    "SELFIMPROVE_PROMOTION_TRIGGER_FIELD_TOLERANCE": "1.0",
    "SELFIMPROVE_PROMOTION_BOOTSTRAP": "200",
}

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


@dataclass(frozen=True)
class World:
    """What a test deployment starts from: a labeled corpus, a drifted stream, a backbone."""

    corpus: Path
    stream: list[LabeledDocument]
    backbone: Path


def build_world(root: Path, *, n_train: int = 36, n_stream: int = 40) -> World:
    """One document type (so only the extractor has a loop), the stream with other captions
    for the same fields (the ``new_vocabulary`` drift)."""
    from selfimprove_assets.lib.models.tiny import tiny_backbone_for

    corpus, stream = root / "corpus", root / "stream"
    generate_corpus(corpus, n=n_train, seed=0, scenario="baseline", scan_share=0.0)
    generate_corpus(stream, n=n_stream, seed=7, scenario="new_vocabulary", scan_share=0.0)
    for folder in (corpus, stream):
        write_labels(folder, [replace(d, doc_type=ONE_TYPE) for d in read_labels(folder)])
    backbone = tiny_backbone_for([corpus, stream], root / "tiny-backbone")
    return World(corpus=corpus, stream=read_labels(stream), backbone=backbone)


@dataclass(frozen=True)
class Backend:
    """Where the feedback store and Dagster's own storage live."""

    name: str
    database_url: str | None = None  # None: the embedded SQLite file under SELFIMPROVE_HOME
    dagster_yaml: Path = PROJECT_ROOT / "dagster.yaml"
    dagster_env: Mapping[str, str] = field(default_factory=dict)


def sqlite_backend() -> Backend:
    return Backend("sqlite")


def postgres_backend(store_url: str, instance_url: str) -> Backend:
    """Feedback store and Dagster instance in two databases of one PostgreSQL server."""
    parts = urlsplit(instance_url)
    return Backend(
        "postgresql",
        database_url=store_url,
        dagster_yaml=PROJECT_ROOT / "deploy" / "dagster.postgres.yaml",
        dagster_env={
            "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parts.port or 5432),
            "DAGSTER_PG_USER": parts.username or "postgres",
            "DAGSTER_PG_PASSWORD": parts.password or "",
            "DAGSTER_PG_DB": parts.path.lstrip("/"),
        },
    )


def deployment_env(home: Path, backbone: Path, backend: Backend) -> dict[str, str]:
    """The whole configuration of the deployment: nothing but environment variables."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_THREAD_LIMIT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env |= {
        "SELFIMPROVE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "SELFIMPROVE_BACKBONE": str(backbone),
        "SELFIMPROVE_API_TOKENS": f"{REVIEWER_TOKEN}:reviewer,{ADMIN_TOKEN}:admin",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **LOOP_SETTINGS,
        **backend.dagster_env,
    }
    if backend.database_url:
        env["SELFIMPROVE_DATABASE_URL"] = backend.database_url
    return env


@contextmanager
def patched_environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bootstrap(world: World, env: Mapping[str, str]) -> None:
    """Ingest the corpus and train V1 of every model the data needs, on the deployment's
    instance (what ``selfimprove ingest`` and ``selfimprove train-baseline`` run)."""
    from selfimprove_assets.definitions import build_definitions
    from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
    from selfimprove_assets.defs.training.assets import SMOKE_BASELINES

    with patched_environ(env):
        settings = load_settings(dict(env))
        with dg.DagsterInstance.get() as instance:
            job = build_definitions(settings).resolve_implicit_global_asset_job_def()
            config = {"ops": {"source_documents": {"config": {"corpus_dir": str(world.corpus)}}}}
            documents = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
                run_config=config,
            )
            assert documents.success, "the documents group did not materialize"
            # tiny models may stay near chance on the golden set: V1 becomes the default anyway
            baselines = job.execute_in_process(
                instance=instance,
                asset_selection=[
                    dg.AssetKey("classifier_baseline"),
                    dg.AssetKey("extractor_baseline"),
                ],
                run_config=SMOKE_BASELINES,
            )
            assert baselines.success, "the baselines did not materialize"


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


RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId jobName status startTime endTime tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""

SENSOR_TICKS_QUERY = """
query Ticks($selector: SensorSelector!, $limit: Int) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState { ticks(limit: $limit) { status timestamp runIds skipReason error { message } } }
    }
    ... on PythonError { message }
  }
}
"""

DAEMONS_QUERY = """
{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }
"""

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""

LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""

RUN_LOGS_QUERY = """
query Logs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { pipelineFailureError: error { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

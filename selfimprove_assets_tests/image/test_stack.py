"""The whole stack from the image: a document goes through the API, the daemon sees it.

PostgreSQL (an image of the same Debian base), MLflow, the API, the Dagster webserver and the
daemon run as containers of the built image with host networking on free ports, configured
only through the environment, as docker-compose.yaml configures them. The feedback store's
database is created by the previous release's migrations first; the image's code upgrades it.
V1 of both tiny models is trained and registered by a one-off container of the image. Then:
documents are uploaded, predicted, reviewed and committed through the API container; the
daemon's accuracy sensor observes the commits (its tick, read through the webserver's
GraphQL); every service container reports healthy through the image's HEALTHCHECK.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets.lib.store.engine import make_engine
from selfimprove_assets_tests.image.conftest import TIMINGS
from selfimprove_assets_tests.image.docker import Containers
from selfimprove_assets_tests.image.previous_release import create_with_previous_release
from selfimprove_assets_tests.image.stack import START_TIMEOUT, ImageStack, wait
from selfimprove_assets_tests.production.deployment import REVIEWER_TOKEN
from selfimprove_assets_tests.production.graphql import SENSOR_TICKS_QUERY

pytestmark = pytest.mark.image

REVIEWS = 6
SENSOR = "extractor_accuracy_sensor"


def _head(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_the_stack_runs_from_the_image(
    containers: Containers, shared_root: Path, tmp_path: Path
) -> None:
    phases: list[str] = []
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        phases.append(f"{name} {time.monotonic() - clock:.0f} s")
        clock = time.monotonic()

    stack = ImageStack(shared_root, containers)
    stack.start_postgres()
    create_with_previous_release(stack.url("selfimprove"), tmp_path / "previous")
    stack.start_mlflow()
    phase("postgres+mlflow")
    stack.bootstrap()
    assert _head(stack.url("selfimprove")) == "0002"
    phase("bootstrap (V1 trained in the image)")
    stack.start_services()
    stack.wait_ready()
    phase("api+webserver+daemon ready")

    # a document uploaded through the API is predicted, reviewed and committed
    stream = read_labels(shared_root / "world" / "stream")
    simulator = ReviewerSimulator(stack.api_url, REVIEWER_TOKEN)
    committed_at = time.time()
    simulator.review_batch(stream[:REVIEWS])
    assert simulator.stats["failed"] == 0, simulator.stats
    assert simulator.stats["reviewed"] == REVIEWS, simulator.stats
    engine = make_engine(stack.url("selfimprove"))
    try:
        with engine.connect() as conn:
            commits = conn.execute(text("SELECT count(*) FROM commits")).scalar_one()
            rows = conn.execute(text("SELECT count(*) FROM feedback_data")).scalar_one()
    finally:
        engine.dispose()
    assert commits >= 1 and rows >= REVIEWS, (commits, rows)
    phase("reviews through the API")

    # the daemon's sensor sees the commits: a tick after them that observed new commits
    selector = {
        "repositoryLocationName": stack.location,
        "repositoryName": "__repository__",
        "sensorName": SENSOR,
    }

    def observed() -> dict[str, object] | None:
        data = stack.graphql(SENSOR_TICKS_QUERY, {"selector": selector, "limit": 10})
        ticks = data["sensorOrError"]["sensorState"]["ticks"]
        for tick in ticks:
            reason = tick.get("skipReason") or ""
            if tick["status"] == "STARTED":  # still evaluating: its outcome is not known yet
                continue
            if tick["timestamp"] >= committed_at and not reason.startswith("no new commits"):
                return dict(tick)
        return None

    tick = wait(
        observed,
        timeout=START_TIMEOUT,
        what=f"a tick of {SENSOR} in the daemon that observed the commits",
        containers=stack.running(),
    )
    assert tick["status"] in ("SKIPPED", "SUCCESS") and not tick.get("error"), tick
    assert stack.daemons()["SENSOR"], "the webserver's GraphQL reports the sensor daemon down"
    phase("sensor tick")

    # every service container is healthy by the image's own HEALTHCHECK
    services = [stack.services[r] for r in ("postgres", "mlflow", "api", "webserver", "daemon")]
    wait(
        lambda: all(c.state()["Health"] == "healthy" for c in services),
        timeout=START_TIMEOUT,
        what="every service container healthy (" + ", ".join(f"{c.name}" for c in services) + ")",
        containers=services,
    )
    phase("healthchecks")
    TIMINGS.append("stack test phases: " + "; ".join(phases))

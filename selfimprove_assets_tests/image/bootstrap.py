"""V1 of the image test's deployment, made inside a container of the image.

``python -m selfimprove_assets_tests.image.bootstrap ROOT`` (the tests folder mounted read-only
on the container's PYTHONPATH) builds the production tests' world under ``ROOT/world`` (the
corpus, the drifted stream, the tiny backbone: ``production.deployment.build_world``) and runs
their bootstrap on the deployment the environment describes: the image's own code ingests the
corpus, trains V1 of both models and registers them on the MLflow server, and migrates the
feedback store it opens.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from selfimprove_assets_tests.production.deployment import bootstrap, build_world


def main(root: Path) -> None:
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/app/deploy/dagster.postgres.yaml", dagster_home / "dagster.yaml")
    world = build_world(root / "world")
    assert str(world.backbone) == os.environ["SELFIMPROVE_BACKBONE"], world.backbone
    bootstrap(world, dict(os.environ))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

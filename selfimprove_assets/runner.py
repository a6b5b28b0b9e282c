"""Materialize the code location's assets from the CLI, on the same instance the UI shows.

``selfimprove ingest`` / ``train-baseline`` / ``demo`` run the very assets that ``dagster dev``
materializes, against the Dagster instance in ``SELFIMPROVE_HOME/dagster``, so their runs,
materializations and lineage appear in the UI afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.lib.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare_instance(settings: Settings) -> dg.DagsterInstance:
    """Point DAGSTER_HOME at the data directory and give it the project's dagster.yaml."""
    settings.ensure_dirs()
    home = settings.dagster_home
    target = home / "dagster.yaml"
    if not target.exists():
        source = PROJECT_ROOT / "dagster.yaml"
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def materialize(
    settings: Settings,
    selection: Sequence[str],
    *,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize the selected asset keys (upstream assets are loaded, not recomputed)."""
    from selfimprove_assets.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or prepare_instance(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        run_config=run_config or {},
        tags=tags or {},
        asset_selection=[dg.AssetKey(key) for key in selection],
        raise_on_error=True,
    )

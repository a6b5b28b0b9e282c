"""Materialize the code location's assets from the CLI, on the same instance the UI shows.

``selfimprove ingest`` / ``train-baseline`` / ``demo`` run the very assets that ``dagster dev``
materializes, against the Dagster instance in ``SELFIMPROVE_HOME/dagster``, so their runs,
materializations and lineage appear in the UI afterwards.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.lib.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class _StepMessages(logging.Filter):
    """Keep the assets' own messages (``context.log``) below ERROR; drop Dagster's events.

    The CLI reports a failure itself, in one line; Dagster's step-failure record carries the
    whole stack trace (the run's event log in the UI keeps everything).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None)
        if record.levelno >= logging.ERROR:
            return False
        return not (isinstance(meta, dict) and meta.get("dagster_event") is not None)


class _StepFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        if not isinstance(meta, dict):
            return super().format(record)
        where = meta.get("step_key") or meta.get("resource_name") or meta.get("job_name") or ""
        return f"{record.levelname.lower()}: {where}: {meta.get('orig_message', '')}"


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="The CLI's terse console log: the assets' own messages, one line each.",
)
def terse_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("selfimprove.run", init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_StepMessages())
    handler.setFormatter(_StepFormatter())
    logger.addHandler(handler)
    return logger


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
    verbose: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize the selected asset keys (upstream assets are loaded, not recomputed).

    ``verbose`` keeps Dagster's full console log (every event, failures with their stack
    trace); without it the terminal shows only the assets' own messages at INFO and above,
    and a failure is left for the caller to report (it is raised as the asset raised it).
    """
    from selfimprove_assets.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or prepare_instance(settings)
    keys = [dg.AssetKey(key) for key in selection]
    job = defs.resolve_implicit_global_asset_job_def()
    config = dict(run_config or {})
    if not verbose and "loggers" not in config:
        job = job.with_logger_defs({"console": terse_console_logger})
        config["loggers"] = {"console": {"config": {"log_level": "INFO"}}}
    return job.execute_in_process(
        instance=instance,
        run_config=config,
        tags=tags or {},
        asset_selection=keys,
        raise_on_error=True,
    )

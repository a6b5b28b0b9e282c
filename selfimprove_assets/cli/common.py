"""What the commands share: the settings, the store, the checks run before any work, and how
results are printed (a table, or JSON with ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from selfimprove_assets.cli.errors import error_message, fail
from selfimprove_assets.lib.settings import Settings, load_settings

if TYPE_CHECKING:
    from selfimprove_assets.lib.store.repository import FeedbackStore

# Results (tables, JSON) go to stdout.
out = Console()


def open_settings() -> Settings:
    settings = load_settings()
    settings.ensure_dirs()
    return settings


def emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
    elif table is not None:
        out.print(table)


def safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def open_store(settings: Settings) -> FeedbackStore:
    """The feedback store, or one error line naming the database that cannot be opened."""
    from selfimprove_assets.lib.store.repository import FeedbackStore

    try:
        return FeedbackStore(settings.database_url)
    except Exception as exc:
        fail(
            f"cannot open the feedback store {safe_url(settings.database_url)} "
            f"(SELFIMPROVE_DATABASE_URL): {error_message(exc)}"
        )


def check_mlflow(settings: Settings, timeout: float = 10.0) -> None:
    """Fail at once when the MLflow tracking server is unreachable (MLflow's own client would
    retry for minutes); file and database URIs need no server."""
    uri = settings.mlflow_tracking_uri
    if not uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        httpx.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        fail(
            f"the MLflow tracking server {uri} (SELFIMPROVE_MLFLOW_TRACKING_URI) is unreachable: "
            f"{error_message(exc)}"
        )


def check_corpus_folder(folder: Path) -> None:
    """One error line when a labeled folder is missing or has no labels.jsonl."""
    if not folder.exists():
        fail(f"corpus folder {folder} does not exist")
    if not folder.is_dir():
        fail(f"{folder} is not a folder (expected a folder with files and labels.jsonl)")
    if not (folder / "labels.jsonl").is_file():
        fail(f"{folder} has no labels.jsonl (see the labeled-corpus contract in the README)")


def what_value_table(title: str, data: Mapping[str, Any], *, skip: Collection[str] = ()) -> Table:
    """A two-column table, one row per key of ``data`` (leaving out ``skip``)."""
    table = Table(title=title)
    table.add_column("what")
    table.add_column("value")
    for key, value in data.items():
        if key not in skip:
            table.add_row(str(key), str(value))
    return table


def summary_table(title: str, summary: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("asset")
    table.add_column("figures")
    for key, meta in summary.items():
        table.add_row(key, ", ".join(f"{k}={v}" for k, v in meta.items()))
    return table


def materialization_summary(result: Any) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        keep = {}
        for name, value in mat.metadata.items():
            raw = getattr(value, "value", value)
            if isinstance(raw, int | float | str) and not str(raw).startswith(("|", "_")):
                if len(str(raw)) < 80:
                    keep[name] = raw
        summary[mat.asset_key.to_user_string()] = keep
    return summary

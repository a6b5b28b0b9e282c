"""``selfimprove settings``: the configuration in effect, and where each value can be set."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from selfimprove_assets.cli.common import emit
from selfimprove_assets.lib.defaults import SECTIONS
from selfimprove_assets.lib.settings import TOP_LEVEL, env_var, load_settings


def settings_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The settings in effect (secrets hidden): SELFIMPROVE_* variables over selfimprove.toml
    over the defaults; see selfimprove.example.toml."""
    settings = load_settings()
    public = settings.public()
    source = str(settings.config_file) if settings.config_file else "none (defaults)"
    table = Table(title=f"settings (file: {source})")
    for col in ("key", "value", "variable"):
        table.add_column(col, overflow="fold")  # a narrow terminal wraps, never cuts a name
    for key, variable in TOP_LEVEL.items():
        table.add_row(key, _text(public.get(key)), variable)
    for section in SECTIONS:
        for key, value in public[section].items():
            table.add_row(f"{section}.{key}", _text(value), env_var(section, key))
    emit(public, as_json, table)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(empty)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "(empty)"
    return "-" if value is None or value == "" else str(value)

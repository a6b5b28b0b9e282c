"""``selfimprove reset``: a stuck retrain state back to IDLE from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfimprove_assets.cli import app
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets_tests.lib.loop.test_reset import stuck_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SELFIMPROVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path / "home"


def test_reset_releases_a_stuck_cycle_and_is_idempotent(home: Path) -> None:
    settings = load_settings({"SELFIMPROVE_HOME": str(home)})
    settings.ensure_dirs()
    store = stuck_store(settings.database_url)
    runner = CliRunner()
    result = runner.invoke(app, ["reset", "classifier", "--reason", "daemon died", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["previous_state"] == "INPROGRESS" and data["state"] == "IDLE"
    assert data["rows_released"] == 6 and data["changed"] is True
    assert store.models.get_default("classifier").retrain_state == "IDLE"  # type: ignore[union-attr]
    assert "by cli: daemon died" in (store.models.get_default("classifier").state_reason or "")  # type: ignore[union-attr]
    assert len(store.curation.committed_feedback("classifier", "1")) == 6

    table = runner.invoke(app, ["reset", "classifier"])
    assert table.exit_code == 0, table.output
    assert "rows_released" in table.stdout and "nothing to reset (IDLE)" in table.stdout
    store.dispose()


def test_reset_errors_are_one_line(home: Path) -> None:
    settings = load_settings({"SELFIMPROVE_HOME": str(home)})
    settings.ensure_dirs()
    stuck_store(settings.database_url, n=1).dispose()
    runner = CliRunner()
    for args, expected in (
        (["reset", "nope"], "unknown model type 'nope'"),
        (["reset", "extractor"], "no default extractor"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "Traceback" not in result.output

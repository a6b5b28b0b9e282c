"""``selfimprove settings``: the configuration in effect, secrets hidden; a bad file fails with
one line naming the key and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfimprove_assets.cli import app

# the [monitor] evidence and re-arm rules at their defaults
EVIDENCE = {
    "decision_power": 0.8,
    "slice_share": 0.2,
    "min_slice_documents": 20,
    "rearm_ratio": 1.0,
    "max_attempts": 3,
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SELFIMPROVE_CONFIG", raising=False)
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("SELFIMPROVE_HOME", str(path))
    return path


def test_settings_shows_the_values_in_effect(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "selfimprove.toml").write_text(
        "[monitor]\nmin_corrections = 20\n[training]\nepochs = 12\n", encoding="utf-8"
    )
    monkeypatch.setenv("SELFIMPROVE_TRAINING_EPOCHS", "9")
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", "postgresql://si:pw-31415@db/selfimprove")
    result = CliRunner().invoke(app, ["settings", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["config_file"] == str((home / "selfimprove.toml").resolve())
    assert shown["monitor"] == {"min_commits": 30, "min_corrections": 20} | EVIDENCE
    assert shown["training"]["epochs"] == 9  # the variable over the file
    assert "pw-31415" not in result.stdout
    table = CliRunner().invoke(app, ["settings"], catch_exceptions=False)
    assert "monitor.min_corrections" in table.stdout
    assert "SELFIMPROVE_MONITOR_MIN" in table.stdout  # the variable (folded when narrow)
    assert "pw-31415" not in table.stdout


def test_a_bad_file_is_one_error_line_naming_the_key_and_the_file(home: Path) -> None:
    (home / "selfimprove.toml").write_text("[monitor]\nmin_corections = 20\n", encoding="utf-8")
    for command in (["settings"], ["status"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert "unknown key [monitor] min_corections" in lines[0]
        assert str(home / "selfimprove.toml") in lines[0]

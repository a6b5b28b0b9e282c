"""``selfimprove demo --quick`` end to end: the loop repairs a drifted model by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfimprove_assets.cli import app

pytestmark = pytest.mark.slow


def test_demo_quick_triggers_evaluates_and_promotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFIMPROVE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    result = CliRunner().invoke(app, ["demo", "--quick", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    summary = json.loads(result.stdout[start:])
    events = summary["events"]
    assert events, "no retrain was triggered by a sensor"
    assert all(e["trigger"] for e in events)  # each run names the figures that triggered it
    promoted = [e for e in events if e["promoted"]]
    assert promoted, f"no candidate was promoted: {events}"
    for event in promoted:
        assert event["scores"]["golden"]["candidate"] is not None
    assert (tmp_path / "reports" / "demo.html").is_file()
    assert (tmp_path / "reports" / "accuracy.png").stat().st_size > 10_000
    assert Path(summary["report"]).is_file()

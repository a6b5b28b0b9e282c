"""The demo's per-batch accuracy: differences of the live counters, reset by a promotion."""

from __future__ import annotations

from typing import Any

from selfimprove_assets.demo.report import Timeline, batch_series


def _point(processed: int, phase: str, version: str, fields: dict[str, tuple[float, int]]) -> Any:
    live = {name: {"accuracy": acc, "n": n} for name, (acc, n) in fields.items()}
    other = {"default_version": "1", "live": {}}
    return {
        "processed": processed,
        "phase": phase,
        "overview": {
            "extractor": {"default_version": version, "live": live},
            "classifier": other,
        },
    }


def test_batch_series_differences_counters_and_restarts_after_a_promotion() -> None:
    timeline = Timeline(
        points=[
            _point(10, "clean", "1", {"a": (0.9, 10), "b": (1.0, 10)}),  # 19/20
            _point(20, "drift", "1", {"a": (0.6, 20), "b": (0.75, 20)}),  # 27/40 -> 8/20
            _point(30, "drift", "2", {"a": (1.0, 5), "b": (0.8, 5)}),  # new default: 9/10
        ]
    )
    series = batch_series(timeline, "extractor")
    assert [(p["correct"], p["total"]) for p in series] == [(19, 20), (8, 20), (9, 10)]
    assert [p["version"] for p in series] == ["1", "1", "2"]
    assert series[1]["accuracy"] == 0.4
    empty = batch_series(timeline, "classifier")
    assert all(p["accuracy"] is None for p in empty)

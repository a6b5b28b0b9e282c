"""What the production-path tests measured, for the terminal summary (see conftest.py)."""

from __future__ import annotations

TIMINGS: list[str] = []
EXCERPTS: dict[str, list[str]] = {}


def record_time(test: str, phase: str, seconds: float) -> None:
    TIMINGS.append(f"{test}: {phase} {seconds:.1f} s")


def record_excerpt(title: str, lines: list[str]) -> None:
    EXCERPTS[title] = lines

"""Headless Debian Chromium for the browser tests (Playwright cannot download its own here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Chromium; a missing browser is a failure, never a skip."""
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run the README's test command (make test), which installs "
        "Debian's chromium"
    )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

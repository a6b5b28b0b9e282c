"""Write the README screenshots of the Dagster UI from a freshly run loop.

    python -m selfimprove_assets_tests.ui.screenshots [--out docs] [--n-train 96] [--epochs 8]

Runs a loop in a temporary directory (documents, both baselines, a reviewed stream, a sensor
tick and a promoted retrain of both model types, so that both loops show materializations),
serves it with the Dagster webserver and writes ``asset-graph.png`` (the global lineage) and
``evaluation.png`` (the classifier's evaluation report) with headless Chromium. The test
``test_dagster_ui.py`` writes the same pictures from its smaller loop when
``SELFIMPROVE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from selfimprove_assets_tests.browser import launch_chromium
from selfimprove_assets_tests.ui import pages
from selfimprove_assets_tests.ui.dagster_ui import (
    PROJECT_ROOT,
    LoopSize,
    dagster_webserver,
    run_finished_loop,
)

logger = logging.getLogger(__name__)


def write_screenshots(out: Path, size: LoopSize, workdir: Path) -> list[Path]:
    """Run the loop under ``workdir``, serve it and write the pictures into ``out``."""
    loop = run_finished_loop(workdir, size)
    for model_type, (run_id, report) in loop.runs.items():
        logger.info("%s retrain %s: %s", model_type, run_id, report["scores"])
    written = [out / "asset-graph.png", out / "evaluation.png"]
    with dagster_webserver(loop, workdir / "webserver.log") as base:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                page = pages.new_context(browser).new_page()
                pages.open_lineage(page, base)
                pages.sidebar_asset_tree(page)
                pages.shoot_lineage(page, written[0])
                pages.shoot_evaluation(page, base, "classifier_evaluation", written[1])
            finally:
                browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the README screenshots of the Dagster UI.")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs")
    parser.add_argument("--n-train", type=int, default=96)
    parser.add_argument("--n-stream", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None, help="kept for inspection")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    size = LoopSize(args.n_train, args.n_stream, args.epochs, ("classifier", "extractor"))
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        written = write_screenshots(args.out, size, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="selfimprove-ui-") as tmp:
            written = write_screenshots(args.out, size, Path(tmp))
    for path in written:
        logger.info("wrote %s", path)


if __name__ == "__main__":
    main()

"""The Dagster UI over a finished loop, in headless Chromium against the real webserver.

A small loop (documents, both baselines, a reviewed stream, one sensor tick, one promoted
classifier retrain) is written to a persistent instance; ``python -m dagster_webserver`` then
serves it with the project's ``workspace.yaml``, and the tests read what an operator sees:
the global lineage of both loops, the evaluation report of the promotion, and the
sensor-started run. With ``SELFIMPROVE_SCREENSHOTS=1`` they also write the README pictures
``docs/asset-graph.png`` and ``docs/evaluation.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from selfimprove_assets_tests.browser import launch_chromium
from selfimprove_assets_tests.ui import pages
from selfimprove_assets_tests.ui.dagster_ui import (
    PROJECT_ROOT,
    FinishedLoop,
    dagster_webserver,
    run_finished_loop,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = os.environ.get("SELFIMPROVE_SCREENSHOTS") == "1"
DOCS = PROJECT_ROOT / "docs"


@dataclass
class Ui:
    loop: FinishedLoop
    base: str
    page: Page


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui-loop")
    loop = run_finished_loop(root)
    with dagster_webserver(loop, root / "webserver.log") as base:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                context = pages.new_context(browser)
                yield Ui(loop=loop, base=base, page=context.new_page())
            finally:
                browser.close()


def test_global_lineage_shows_documents_and_both_loops(ui: Ui) -> None:
    page = ui.page
    pages.open_lineage(page, ui.base)
    expected = {key.to_user_string() for key in ui.loop.env.repo.asset_graph.get_all_asset_keys()}
    assert {"classifier_champion", "extractor_candidate", "golden_test_set"} <= expected
    # every asset of the code location is a node of the graph, in its expanded group
    expect(page.locator(pages.GRAPH_NODE)).to_have_count(len(expected))
    tree = pages.sidebar_asset_tree(page)
    assert set(pages.GROUPS) <= set(tree)
    assert set(tree) - set(pages.GROUPS) == expected
    # the tree lists each group's own assets under it
    documents = tree[tree.index("documents") + 1 : tree.index("extractor_loop")]
    assert {"source_documents", "golden_test_set", "initial_training_set"} <= set(documents)
    assert not any(name.startswith(("classifier_", "extractor_")) for name in documents)
    if SCREENSHOTS:
        pages.shoot_lineage(page, DOCS / "asset-graph.png")


def test_evaluation_page_shows_the_promotion_report(ui: Ui) -> None:
    page = ui.page
    report = ui.loop.report
    pages.open_asset(page, ui.base, "classifier_evaluation")
    expect(pages.metadata_row(page, "decision")).to_contain_text("PROMOTE")
    golden = report["scores"]["golden"]
    expect(pages.metadata_row(page, "reasons")).to_contain_text("PASS")
    expect(page.get_by_text("classifier_accuracy_sensor").first).to_be_visible()
    dialog = pages.open_markdown_entry(page, "evaluation")
    for section in ("golden", "production"):
        expect(dialog.get_by_text(section, exact=True).first).to_be_visible()
    # the comparison table: the headline figure with default and candidate side by side
    expect(dialog.locator("tr", has_text="doc_type").first).to_contain_text(
        f"{golden['default']:.3f}"
    )
    expect(dialog.locator("tr", has_text="doc_type").first).to_contain_text(
        f"{golden['candidate']:.3f}"
    )
    expect(dialog.get_by_text("95% CI of Δ").first).to_be_visible()
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1600, "height": 1000})
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / "evaluation.png"))
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def test_sensor_started_retraining_run_is_listed_with_its_tags(ui: Ui) -> None:
    page = ui.page
    run_id = ui.loop.retrain_run_id
    page.goto(f"{ui.base}/runs/{run_id}", wait_until="domcontentloaded")
    expect(page.get_by_text("classifier_retraining").first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    page.get_by_text("View tags and config").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("selfimprove/model_type")
    expect(dialog).to_contain_text("classifier_accuracy_sensor")
    expect(dialog).to_contain_text("selfimprove/trigger")
    # the operator's policy for this run is the run config shown next to the tags
    expect(dialog).to_contain_text("require_significant_improvement: false")

"""What an operator does in the Dagster UI (1.13), as Playwright steps on visible elements.

Routes used: ``/asset-groups`` (the global asset lineage; ``?expanded=`` opens groups, with
ids ``global@global:<group>``), ``/assets/<key>`` (an asset's overview with the latest
materialization's metadata) and ``/runs/<run_id>``. The UI is heavy on two cores, so every
wait is generous; nothing here depends on how long a step took.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, BrowserContext, Locator, Page

GROUPS = ("documents", "classifier_loop", "extractor_loop")
TIMEOUT_MS = 90_000
SIDEBAR_ROW = '[class*="AssetSidebarNode_itemContainer"]'
GRAPH_NODE = '[class*="AssetNode_assetNodeContainer"]'


def new_context(browser: Browser) -> BrowserContext:
    """A context with the "join the community" dialog (shown on localhost) dismissed."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script("window.localStorage.setItem('communityNux', '1')")
    return context


def lineage_url(base: str, groups: tuple[str, ...] = GROUPS) -> str:
    expanded = ",".join(quote(f"global@global:{g}", safe="@:") for g in groups)
    return f"{base}/asset-groups?expanded={expanded}"


def open_lineage(page: Page, base: str) -> None:
    """The global lineage graph with every group expanded, once its nodes are drawn."""
    page.goto(lineage_url(base), wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.get_by_text("Global asset lineage").wait_for()
    page.locator(GRAPH_NODE).first.wait_for()


def graph_node_count(page: Page) -> int:
    return page.locator(GRAPH_NODE).count()


def sidebar_asset_tree(page: Page) -> list[str]:
    """Open every group in the lineage sidebar and read the full names it lists.

    The graph itself middle-truncates long names when zoomed out to fit, so the sidebar tree
    (which keeps each full name in a ``title``) is where exact asset keys are visible.
    """
    for group in GROUPS:
        row = page.locator(f'{SIDEBAR_ROW}:has([title="{group}"])')
        row.wait_for()
        row.locator('button:has([aria-label="arrow_drop_down"])').first.click()
    page.locator(f'{SIDEBAR_ROW} [title="source_documents"]').wait_for()
    titles = page.locator(f"{SIDEBAR_ROW} [title]").evaluate_all(
        "els => els.map(e => e.getAttribute('title'))"
    )
    return [str(t) for t in titles]


def shoot_lineage(page: Page, path: Path) -> None:
    """The graph and the opened asset tree (full names, status), navigation hidden."""
    page.get_by_text("Hide navigation").click()
    page.set_viewport_size({"width": 1800, "height": 900})
    page.reload(wait_until="domcontentloaded")  # the graph re-fits to the wider canvas
    page.locator(GRAPH_NODE).first.wait_for()
    page.wait_for_timeout(2_000)  # the fit-to-screen zoom animates
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def open_asset(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/assets/{key}", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.get_by_text("Latest materialization").wait_for()


def metadata_row(page: Page, key: str) -> Locator:
    """The row of the asset page's metadata table whose key cell is ``key``."""
    return page.locator("tr", has=page.locator("td", has_text=key).first).filter(
        has=page.get_by_text(key, exact=True)
    )


def open_markdown_entry(page: Page, key: str) -> Locator:
    """Click "[Show Markdown]" of a metadata entry; the dialog that shows it rendered."""
    metadata_row(page, key).get_by_text("Show Markdown").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(key, exact=True).first.wait_for()
    return dialog


def shoot_evaluation(page: Page, base: str, key: str, path: Path) -> None:
    """An evaluation materialization: the asset page with its comparison report opened."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    open_asset(page, base, key)
    metadata_row(page, "decision").wait_for()
    open_markdown_entry(page, "evaluation")
    page.wait_for_timeout(500)  # the dialog fades in
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.get_by_role("dialog").get_by_role("button", name="Close").click()

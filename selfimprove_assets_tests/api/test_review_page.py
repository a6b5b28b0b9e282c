"""The review page in a real browser: headless Chromium against uvicorn on loopback."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from selfimprove_assets_tests.api.conftest import REVIEWER, REVIEWER_TOKEN, ApiFactory, ApiHarness
from selfimprove_assets_tests.browser import launch_chromium


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_api(make_api: ApiFactory) -> Iterator[tuple[ApiHarness, str]]:
    api = make_api()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.browser
def test_reviewer_corrects_and_commits_in_the_browser(live_api: tuple[ApiHarness, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    api, base = live_api
    uploaded = api.upload().json()
    doc_id = uploaded["id"]
    predicted_type = uploaded["prediction"]["doc_type"]
    new_type = next(t for t in api.models.doc_types if t != predicted_type)
    n_predicted = len(uploaded["prediction"]["entities"])
    assert n_predicted >= 2

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/review/{doc_id}?token={REVIEWER_TOKEN}")

            rows = page.locator("#entities tbody tr")
            expect(rows).to_have_count(n_predicted)
            expect(page.locator("#doc-type")).to_have_value(predicted_type)
            image = page.locator("#page-image")
            expect(image).to_have_attribute("src", re.compile(r"^blob:"), timeout=15_000)
            # (No wait_for_function: it evaluates strings, which the page's CSP forbids.)
            deadline = time.monotonic() + 15
            while image.evaluate("img => img.naturalWidth") == 0:
                assert time.monotonic() < deadline, "the page image never loaded"
                time.sleep(0.05)
            assert page.locator("#overlay .box").count() > 0  # predicted boxes drawn
            assert REVIEWER_TOKEN not in page.url  # the token left the address bar

            page.fill("#doc-type", new_type)
            rows.nth(0).locator("input.text").fill("corrected value")
            rows.nth(1).locator("button.remove").click()
            expect(rows).to_have_count(n_predicted - 1)

            page.click("#add-entity")
            added = rows.nth(n_predicted - 1)
            added.locator("input.label").fill("handwritten_note")
            added.locator("input.text").fill("seen by dr. who")
            page.locator("#page-wrap").scroll_into_view_if_needed()
            box = page.locator("#page-wrap").bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.15)
            page.mouse.up()
            expect(added.locator(".bbox")).not_to_have_text("—")

            page.click("#commit")
            expect(page.locator("#message")).to_contain_text("committed 1 document", timeout=15_000)
            expect(page.locator("#state")).to_contain_text("committed")
            expect(page.locator("#models")).to_contain_text("documents=1")
            expect(page.locator("#commit")).to_be_disabled()
            assert errors == []
        finally:
            browser.close()

    document = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
    review = document["review"]
    assert review["committed"] is True
    assert review["verified"]["doc_type"] == new_type
    texts = [e["text"] for e in review["verified"]["entities"]]
    assert "corrected value" in texts and "seen by dr. who" in texts
    drawn = next(e for e in review["verified"]["entities"] if e["label"] == "handwritten_note")
    x0, y0, x1, y1 = drawn["bbox"]
    assert 80 <= x0 < x1 <= 320 and 80 <= y0 < y1 <= 170

    classifier = api.store.live_counters("classifier", "1")
    assert classifier["doc_type"]["committed"] == 1 and classifier["doc_type"]["corrected"] == 1
    extractor = api.store.live_counters("extractor", "1")
    assert extractor == api.store.recount("extractor", "1")
    assert extractor["handwritten_note"]["added"] == 1
    assert sum(c["modified"] for c in extractor.values()) >= 1
    assert sum(c["removed"] for c in extractor.values()) >= 1

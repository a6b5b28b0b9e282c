"""The review page in a real browser: headless Chromium against uvicorn on loopback.

A whole review is driven from the keyboard (the box is drawn with the pointer): open the queue,
fix a field by picking a label with a number key, draw a box that snaps to the words under it
and takes their text, save and next, commit. Set ``SELFIMPROVE_SCREENSHOTS=DIR`` to also write
the README's screenshots (``review-queue.png``, ``review.png``) there.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _wait_for_document(page: Any, document_id: str) -> None:
    """Wait until the page shows this document (its data and its page image)."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-loaded", document_id, timeout=15_000)
    image = page.locator("#page-image")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"), timeout=15_000)
    # (No wait_for_function: it evaluates strings, which the page's CSP forbids.)
    deadline = time.monotonic() + 15
    while image.evaluate("img => img.naturalWidth") == 0:
        assert time.monotonic() < deadline, "the page image never loaded"
        time.sleep(0.05)


def _words_under(words: list[dict[str, Any]], box: list[int]) -> list[dict[str, Any]]:
    """The page's rule: a word is under a drawn box when half of its box is inside it."""
    x0, y0, x1, y1 = box
    out = []
    for w in words:
        a0, b0, a1, b1 = w["bbox"]
        area = max(a1 - a0, 1) * max(b1 - b0, 1)
        ix = max(0, min(x1, a1) - max(x0, a0))
        iy = max(0, min(y1, b1) - max(y0, b0))
        if ix * iy >= 0.5 * area:
            out.append(w)
    return out


def _palette(page: Any) -> list[str]:
    """The labels that number keys pick, in key order."""
    keys = page.locator("#palette .key").all_inner_texts()
    return [t.split(" ", 1)[1] for t in keys if t[:1].isdigit()]


def _screenshot(page: Any, name: str, height: int | None = None) -> None:
    folder = os.environ.get("SELFIMPROVE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        clip = {"x": 0, "y": 0, "width": size["width"], "height": height} if height else None
        page.screenshot(path=str(Path(folder) / name), clip=clip)


@pytest.mark.browser
def test_whole_review_by_keyboard_through_the_queue(live_api: tuple[ApiHarness, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    api, base = live_api
    uploads = [api.upload(f).json() for f in api.models.files[:3]]
    queue = api.client.get(
        "/v1/documents", params={"status": "unreviewed", "order": "confidence"}, headers=REVIEWER
    ).json()
    order = [item["id"] for item in queue["items"]]
    first, second = order[0], order[1]
    first_prediction = next(u for u in uploads if u["id"] == first)["prediction"]
    n_predicted = len(first_prediction["entities"])
    assert n_predicted >= 1

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/review?token={REVIEWER_TOKEN}")
            assert REVIEWER_TOKEN not in page.url  # the token left the address bar

            # The page opens on the queue, least certain first, with the focus in it.
            items = page.locator("#queue-list li.queue-item")
            expect(items).to_have_count(3)
            expect(page.locator("#queue-list")).to_be_focused()
            assert [items.nth(i).get_attribute("data-id") for i in range(3)] == order
            _screenshot(page, "review-queue.png", height=420)
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowUp")
            page.keyboard.press("Enter")
            expect(page).to_have_url(re.compile(f"/review/{first}$"))
            _wait_for_document(page, first)
            rows = page.locator("#entities tbody tr")
            expect(rows).to_have_count(n_predicted)
            assert page.locator("#overlay .box").count() > 0  # predicted boxes drawn
            # Whatever is not auto-accepted stands out in amber; the tiny test models clear no
            # cut-off, so every field (and the type) is amber.
            entities = first_prediction["entities"]
            assert not any(e["auto_accepted"] for e in entities)
            assert first_prediction["doc_type_auto_accepted"] is False
            expect(page.locator("#entities tbody tr.low")).to_have_count(
                sum(not e["auto_accepted"] for e in entities)
            )
            expect(page.locator("#overlay .box.low")).to_have_count(
                sum(not e["auto_accepted"] and e["bbox"] is not None for e in entities)
            )
            expect(page.locator("#overlay .box:not(.low)")).to_have_count(0)
            expect(page.locator("#doc-type")).to_have_class(re.compile(r"\blow\b"))

            # Clicking a box selects its row.
            boxes = page.locator("#overlay .box")
            last_box = boxes.nth(boxes.count() - 1)
            index = int(last_box.get_attribute("data-index") or "0")
            last_box.click()
            expect(rows.nth(index)).to_have_class(re.compile("selected"))
            expect(last_box).to_have_class(re.compile("selected"))

            # Fix a field: back to the first entity (k), give it another label (number key).
            labels = _palette(page)
            for _ in range(n_predicted):
                page.keyboard.press("k")
            expect(rows.nth(0)).to_have_class(re.compile("selected"))
            current = rows.nth(0).locator("select.label").input_value()
            key = next(i for i, label in enumerate(labels[:9]) if label != current)
            page.keyboard.press(str(key + 1))
            expect(rows.nth(0).locator("select.label")).to_have_value(labels[key])
            expect(page.locator("#state")).to_contain_text("unsaved changes")

            # A new entity: n, a label by number key, then draw a box around a word.
            words = api.client.get(f"/v1/documents/{first}/pages/0/words", headers=REVIEWER).json()[
                "words"
            ]
            target = next(w for w in words if len(w["text"]) >= 4 and w["bbox"][3] < 300)
            x0, y0, x1, y1 = target["bbox"]
            drawn = [max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, 1000), min(y1 + 2, 1000)]
            expected = _words_under(words, drawn)
            assert target in expected
            expected_text = " ".join(w["text"] for w in expected)
            expected_box = [
                min(w["bbox"][0] for w in expected),
                min(w["bbox"][1] for w in expected),
                max(w["bbox"][2] for w in expected),
                max(w["bbox"][3] for w in expected),
            ]
            page.keyboard.press("n")
            expect(rows).to_have_count(n_predicted + 1)
            added = rows.nth(n_predicted)
            page.keyboard.press("2")
            expect(added.locator("select.label")).to_have_value(labels[1])

            def at(bx: float, by: float) -> tuple[float, float]:
                # Read the page's place afresh: selecting a row scrolls the page under the mouse.
                wrap = page.locator("#page-wrap").bounding_box()
                assert wrap is not None
                return (
                    wrap["x"] + bx / 1000 * wrap["width"],
                    wrap["y"] + by / 1000 * wrap["height"],
                )

            # Draw a little wider than the word (pixels round), then check the snapped result.
            page.mouse.move(*at(drawn[0] + 0.4, drawn[1] + 0.4))
            page.mouse.down()
            page.mouse.move(*at((drawn[0] + drawn[2]) / 2, (drawn[1] + drawn[3]) / 2))
            page.mouse.move(*at(drawn[2] - 0.4, drawn[3] - 0.4))
            page.mouse.up()
            expect(added.locator("input.text")).to_have_value(expected_text)
            expect(added.locator(".bbox")).to_have_text(", ".join(map(str, expected_box)))
            _screenshot(page, "review.png")

            # Without the pointer: type the text (e), leave the field (Esc), find it (f).
            def covered(w: dict[str, Any]) -> bool:
                cx, cy = (w["bbox"][0] + w["bbox"][2]) / 2, (w["bbox"][1] + w["bbox"][3]) / 2
                boxes = [e["bbox"] for e in first_prediction["entities"]] + [expected_box]
                return any(b[0] - 3 <= cx <= b[2] + 3 and b[1] - 3 <= cy <= b[3] + 3 for b in boxes)

            free = [w for w in words if w not in expected and len(w["text"]) >= 3]
            typed = next(w for w in free if sum(v["text"] == w["text"] for v in words) == 1)
            page.keyboard.press("n")
            page.keyboard.press("3")
            page.keyboard.press("e")
            page.keyboard.type(typed["text"])
            page.keyboard.press("Escape")
            page.keyboard.press("f")
            found = rows.nth(n_predicted + 1)
            expect(found.locator(".bbox")).to_have_text(", ".join(map(str, typed["bbox"])))
            expect(found.locator("select.label")).to_have_value(labels[2])

            # A new entity takes the word clicked (even inside a predicted box); Shift+click adds.
            clicked = next(w for w in free if w is not typed and covered(w))
            page.keyboard.press("n")
            page.keyboard.press("4")
            cx = (clicked["bbox"][0] + clicked["bbox"][2]) / 2
            cy = (clicked["bbox"][1] + clicked["bbox"][3]) / 2
            # The click lands on an amber predicted box, not beside it.
            on = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).closest('.box')?.className ?? ''",
                list(at(cx, cy)),
            )
            assert "low" in on.split()
            page.mouse.click(*at(cx, cy))
            filled = rows.nth(n_predicted + 2)
            expect(filled.locator("input.text")).to_have_value(clicked["text"])
            expect(filled.locator(".bbox")).to_have_text(", ".join(map(str, clicked["bbox"])))
            extra = next(w for w in free if w is not typed and w is not clicked)
            page.keyboard.down("Shift")
            page.mouse.click(
                *at(
                    (extra["bbox"][0] + extra["bbox"][2]) / 2,
                    (extra["bbox"][1] + extra["bbox"][3]) / 2,
                )
            )
            page.keyboard.up("Shift")
            clicked_text = f"{clicked['text']} {extra['text']}"
            clicked_box = [
                min(clicked["bbox"][0], extra["bbox"][0]),
                min(clicked["bbox"][1], extra["bbox"][1]),
                max(clicked["bbox"][2], extra["bbox"][2]),
                max(clicked["bbox"][3], extra["bbox"][3]),
            ]
            expect(filled.locator("input.text")).to_have_value(clicked_text)
            expect(filled.locator(".bbox")).to_have_text(", ".join(map(str, clicked_box)))

            # Save and next (Ctrl+Enter): this one is ready to commit, the next one opens.
            page.keyboard.press("Control+Enter")
            expect(page).to_have_url(re.compile(f"/review/{second}$"), timeout=15_000)
            _wait_for_document(page, second)
            expect(page.locator("#state")).to_contain_text("not reviewed")

            # The document type from the known types, by keyboard; then commit (Ctrl+Shift+Enter).
            page.keyboard.press("t")
            expect(page.locator("#doc-type")).to_be_focused()
            before = page.locator("#doc-type").input_value()
            page.keyboard.press("ArrowDown")
            changed = page.locator("#doc-type").input_value()
            if changed == before or changed.startswith("\x00"):  # last type: go up instead
                page.keyboard.press("ArrowUp")
                page.keyboard.press("ArrowUp")
                changed = page.locator("#doc-type").input_value()
            assert changed != before and changed in api.models.doc_types
            page.keyboard.press("Escape")
            page.keyboard.press("Control+Shift+Enter")
            expect(page.locator("#message")).to_contain_text("committed 1 document", timeout=15_000)
            expect(page.locator("#state")).to_contain_text("committed by reviewer-1")
            expect(page.locator("#save-next")).to_be_disabled()

            # The first one waits, reviewed, for the batch commit.
            page.keyboard.press("q")
            page.locator("#filter-status").select_option("reviewed")
            expect(items).to_have_count(1)
            page.click("#commit-reviewed")
            expect(page.locator("#message")).to_contain_text("committed 1 document", timeout=15_000)
            expect(page.locator("#models")).to_contain_text("documents=2")
            assert errors == []
        finally:
            browser.close()

    doc = api.client.get(f"/v1/documents/{first}", headers=REVIEWER).json()
    assert doc["review"]["committed"] is True
    verified = doc["review"]["verified"]["entities"]
    assert verified[0]["label"] == labels[key]
    assert verified[-3:] == [
        {
            "label": labels[1],
            "text": expected_text,
            "page": 0,
            "bbox": expected_box,
            "confidence": None,
            "auto_accepted": False,
        },
        {
            "label": labels[2],
            "text": typed["text"],
            "page": 0,
            "bbox": typed["bbox"],
            "confidence": None,
            "auto_accepted": False,
        },
        {
            "label": labels[3],
            "text": clicked_text,
            "page": 0,
            "bbox": clicked_box,
            "confidence": None,
            "auto_accepted": False,
        },
    ]
    other = api.client.get(f"/v1/documents/{second}", headers=REVIEWER).json()
    assert other["review"]["verified"]["doc_type"] == changed
    assert other["review"]["corrected"]["classifier"] is True
    for model_type in ("classifier", "extractor"):
        assert api.store.counters.live_counters(model_type, "1") == api.store.counters.recount(
            model_type, "1"
        )


@pytest.mark.browser
def test_leaving_unsaved_changes_asks_first(live_api: tuple[ApiHarness, str]) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    api, base = live_api
    ids = [api.upload(f).json()["id"] for f in api.models.files[:2]]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            dialogs: list[tuple[str, str]] = []

            def answer(dialog: Any) -> None:
                dialogs.append((dialog.type, dialog.message))
                if dialog.type == "prompt":
                    dialog.accept("stamp_date")
                elif dialog.type == "confirm" and "Add it as a new label" in dialog.message:
                    dialog.accept()
                else:
                    dialog.dismiss()

            page.on("dialog", answer)
            page.goto(f"{base}/review/{ids[0]}?token={REVIEWER_TOKEN}")
            _wait_for_document(page, ids[0])
            expect(page.locator("#queue-list li.queue-item")).to_have_count(2)
            page.keyboard.press("n")  # an unsaved change
            expect(page.locator("#state")).to_contain_text("unsaved changes")
            # A label nobody used before is typed, then confirmed, and joins the label list.
            added = page.locator("#entities tbody tr.selected select.label")
            added.select_option(label="new label…")
            expect(added).to_have_value("stamp_date")
            assert [d[0] for d in dialogs[-2:]] == ["prompt", "confirm"]
            expect(page.locator("#palette")).to_contain_text("stamp_date")

            # Opening another document from the queue asks; dismissing keeps this one.
            page.locator(f'#queue-list li[data-id="{ids[1]}"]').click()
            expect(page).to_have_url(re.compile(f"/review/{ids[0]}$"))
            assert dialogs and dialogs[-1][0] == "confirm" and "unsaved" in dialogs[-1][1]

            # Leaving the page (another address, reload, close) triggers the browser's warning;
            # dismissed, the navigation is aborted and the page stays.
            with pytest.raises(PlaywrightError, match="ERR_ABORTED"):
                page.goto(f"{base}/health", timeout=10_000)
            assert dialogs[-1][0] == "beforeunload"
            assert page.url.endswith(f"/review/{ids[0]}")
            expect(page.locator("#state")).to_contain_text("unsaved changes")

            # Once saved, leaving asks nothing.
            page.keyboard.press("x")  # remove the new (unlabeled) entity again
            page.keyboard.press("Control+s")
            expect(page.locator("#message")).to_have_text("Review saved.")
            count = len(dialogs)
            page.goto(f"{base}/review/{ids[1]}")
            _wait_for_document(page, ids[1])
            assert len(dialogs) == count
        finally:
            browser.close()

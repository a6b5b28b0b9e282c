"""The rejection alert's body and its delivery to a real local HTTP server."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.loop.alert import WebhookError, post_webhook, rejection_alert
from selfimprove_assets_tests.lib.loop.webhook_server import webhook_server
from selfimprove_assets_tests.reliability.live_server import free_port


def _alert() -> dict[str, object]:
    return rejection_alert(
        "extractor", "3", "v2.1", "1", ["golden: dropped 0.04"], cycle_id="c", attempt=2
    ).body()


def test_the_alert_is_posted_as_json() -> None:
    body = _alert()
    assert body["event"] == "candidate_rejected" and body["name"] == "v2.1"
    assert "extractor candidate v2.1 (registry version 3) was rejected" in str(body["text"])
    assert "golden: dropped 0.04" in str(body["text"])
    with webhook_server() as server:
        assert post_webhook(server.url, body) == 204
    assert server.bodies == [body]
    assert server.headers[0]["Content-Type"] == "application/json"


def test_delivery_failures_are_clear() -> None:
    with webhook_server(status=500) as server, pytest.raises(WebhookError, match="500"):
        post_webhook(server.url, _alert())
    with pytest.raises(WebhookError, match="unreachable"):
        post_webhook(f"http://127.0.0.1:{free_port()}/", _alert(), timeout=2)
    with pytest.raises(WebhookError, match="must be http"):
        post_webhook("file:///etc/passwd", _alert())

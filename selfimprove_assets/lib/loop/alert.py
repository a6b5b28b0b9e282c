"""Tell people when the loop needs them: a rejected candidate leaves the retrain to an operator.

``rejection_alert`` is the event (a JSON body whose ``text`` reads well in a chat channel: Slack
and Mattermost incoming webhooks show it as is); ``post_webhook`` sends it with the standard
library, so no client is needed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

EVENT = "candidate_rejected"


@dataclass(frozen=True)
class RejectionAlert:
    model_type: str
    candidate_version: str
    name: str
    default_version: str
    reasons: list[str]
    cycle_id: str | None = None
    attempt: int | None = None
    run_id: str | None = None

    @property
    def text(self) -> str:
        why = "; ".join(self.reasons) or "no reason recorded"
        return (
            f"selfimprove: {self.model_type} candidate {self.name} (registry version "
            f"{self.candidate_version}) was rejected; v{self.default_version} keeps serving. "
            f"Why: {why}. Next: adjust the retraining-set config and re-materialize the "
            f"{self.model_type} loop (the next attempt of the cycle), or reset the state."
        )

    def body(self) -> dict[str, Any]:
        return {"event": EVENT, "text": self.text, **asdict(self)}


def rejection_alert(
    model_type: str,
    candidate_version: str,
    name: str,
    default_version: str,
    reasons: Sequence[str],
    **context: Any,
) -> RejectionAlert:
    return RejectionAlert(
        model_type, candidate_version, name, default_version, list(reasons), **context
    )


class WebhookError(RuntimeError):
    """The webhook did not accept the alert (unreachable, or a non-2xx answer)."""


def post_webhook(url: str, body: dict[str, Any], *, timeout: float = 10.0) -> int:
    """POST ``body`` as JSON to ``url``; returns the HTTP status, raises ``WebhookError``."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise WebhookError(f"webhook URL must be http(s), got {url[:40]!r}")
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "selfimprove-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise WebhookError(f"webhook unreachable: {exc}") from exc

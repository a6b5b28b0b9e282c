"""Access control: every state-changing endpoint × {no token, wrong token, reviewer, admin}.

The table is checked against the app's own routes, so an endpoint added later without an entry
here fails the suite instead of slipping through unprotected.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selfimprove_assets.api import auth
from selfimprove_assets.api.app import create_app
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets_tests.api.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    REVIEWER,
    REVIEWER_TOKEN,
    ApiFactory,
    ApiHarness,
    register,
)

WRONG = {"Authorization": f"Bearer {REVIEWER_TOKEN}-guess"}
PACKAGE = Path(__file__).resolve().parents[2] / "selfimprove_assets"

Call = Callable[[ApiHarness, dict[str, str], str], Any]


def _upload(api: ApiHarness, headers: dict[str, str], _doc: str) -> Any:
    return api.upload(api.models.files[1], headers=headers)


def _review(api: ApiHarness, headers: dict[str, str], doc: str) -> Any:
    body = {"doc_type": "invoice", "entities": []}
    return api.client.put(f"/v1/documents/{doc}/review", json=body, headers=headers)


def _commit(api: ApiHarness, headers: dict[str, str], doc: str) -> Any:
    return api.client.post("/v1/commits", json={"document_ids": [doc]}, headers=headers)


def _rollback(api: ApiHarness, headers: dict[str, str], _doc: str) -> Any:
    return api.client.post("/v1/models/classifier/rollback", headers=headers)


def _reset(api: ApiHarness, headers: dict[str, str], _doc: str) -> Any:
    return api.client.post("/v1/models/classifier/reset", headers=headers)


# (method, route) → how to call it, and the status each caller gets.
STATE_CHANGING: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("POST", "/v1/documents"): (_upload, {"reviewer": 201, "admin": 201}),
    ("PUT", "/v1/documents/{document_id}/review"): (_review, {"reviewer": 200, "admin": 200}),
    ("POST", "/v1/commits"): (_commit, {"reviewer": 200, "admin": 200}),
    ("POST", "/v1/models/{model_type}/rollback"): (_rollback, {"reviewer": 403, "admin": 200}),
    ("POST", "/v1/models/{model_type}/reset"): (_reset, {"reviewer": 403, "admin": 200}),
}
READS = ["/v1/models", "/v1/documents/{doc}", "/v1/documents/{doc}/pages/0.png"]


def _routes(api: ApiHarness) -> set[tuple[str, str]]:
    found = set()
    for route in api.app.routes:  # type: ignore[attr-defined]
        for method in getattr(route, "methods", None) or ():
            if method in {"POST", "PUT", "PATCH", "DELETE"}:
                found.add((method, route.path))  # type: ignore[attr-defined]
    return found


def test_the_table_covers_every_state_changing_route(make_api: ApiFactory) -> None:
    assert _routes(make_api()) == set(STATE_CHANGING)


@pytest.mark.parametrize("route", list(STATE_CHANGING), ids=lambda r: f"{r[0]} {r[1]}")
def test_state_changing_endpoint_by_caller(make_api: ApiFactory, route: tuple[str, str]) -> None:
    api = make_api()
    register(api.store, api.models, "classifier", "2", parent="1")  # something to roll back
    doc = api.upload().json()["id"]
    call, allowed = STATE_CHANGING[route]
    _review(api, REVIEWER, doc)
    documents, commits = api.store.documents.count_documents(), api.store.counters.max_commit_id()
    default = api.store.models.get_default("classifier")
    for headers in ({}, WRONG, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        response = call(api, headers, doc)
        assert response.status_code == 401, (route, headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert REVIEWER_TOKEN not in response.text and ADMIN_TOKEN not in response.text
    # Refused callers changed nothing.
    assert (
        api.store.documents.count_documents() == documents
        and api.store.counters.max_commit_id() == commits
    )
    assert api.store.models.get_default("classifier") == default
    for role, headers in (("reviewer", REVIEWER), ("admin", ADMIN)):
        response = call(api, headers, doc)
        assert response.status_code == allowed[role], (route, role, response.text)
        if allowed[role] == 403:
            assert api.store.models.get_default("classifier") == default


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_token_but_health_does_not(make_api: ApiFactory, path: str) -> None:
    api = make_api()
    doc = api.upload().json()["id"]
    url = path.format(doc=doc)
    assert api.client.get(url).status_code == 401
    assert api.client.get(url, headers=WRONG).status_code == 401
    assert api.client.get(url, headers=REVIEWER).status_code == 200
    assert api.client.get(url, headers=ADMIN).status_code == 200
    assert api.client.get("/health").status_code == 200


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    source = inspect.getsource(auth.TokenTable.lookup)
    assert "hmac.compare_digest" in source
    assert not re.search(r"candidate\s*==|==\s*candidate|\bin\s+self\._entries", source)
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    table = auth.TokenTable.parse("first:reviewer,second:admin,third:reviewer")
    for token in ("first", "third", "nope", ""):
        calls.clear()
        table.lookup(token)
        assert len(calls) == 3, token  # every entry compared: no early exit on a match


def test_tokens_come_only_from_the_environment(tmp_path: Path) -> None:
    env = {"SELFIMPROVE_HOME": str(tmp_path)}
    assert load_settings(env).api_tokens == ""  # no built-in token, ever
    app_settings = load_settings({**env, "SELFIMPROVE_API_TOKENS": "env-token-1:admin"})
    assert app_settings.api_tokens == "env-token-1:admin"
    # the settings read the variable through their table of sources (pydantic-settings): no
    # other module names it as a string it could look up
    reads = re.compile(r"""["']SELFIMPROVE_API_TOKENS["']""")
    readers = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if reads.search(path.read_text(encoding="utf-8"))
    )
    assert readers == ["lib/settings_sources.py"], readers
    # Without tokens the API answers only /health.
    from fastapi.testclient import TestClient

    with TestClient(create_app(load_settings(env))) as client:
        assert client.get("/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
            assert client.get("/v1/models", headers=headers).status_code == 401


def test_no_secret_reaches_the_logs(make_api: ApiFactory, caplog: pytest.LogCaptureFixture) -> None:
    api = make_api(raise_server_exceptions=False)
    register(api.store, api.models, "classifier", "2", parent="1")
    caplog.set_level(logging.DEBUG)
    doc = api.upload().json()["id"]
    _review(api, REVIEWER, doc)
    _commit(api, REVIEWER, doc)
    _rollback(api, REVIEWER, doc)
    _rollback(api, ADMIN, doc)
    api.client.get(f"/review/{doc}?token={ADMIN_TOKEN}")
    api.client.get("/v1/models", headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"})
    api.client.get("/v1/documents/nope", headers=ADMIN)
    # The test client's own request log (httpx, the caller's side) is not the server's.
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert server_side, "nothing was logged: the test would prove nothing"
    for secret in (REVIEWER_TOKEN, ADMIN_TOKEN):
        for record in server_side:
            assert secret not in record.getMessage(), record.name
            assert secret not in (record.exc_text or "")

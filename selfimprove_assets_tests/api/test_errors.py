"""Every 4xx path answers JSON ``{"error": {code, message}}``, writes nothing, leaks nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from reportlab.pdfgen import canvas

from selfimprove_assets.api.auth import TokenTable
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.lib.store.documents import DocumentStore
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets_tests.api.conftest import ADMIN_TOKEN, REVIEWER, ApiFactory, ApiHarness

LEAKS = ("Traceback", "/tmp", "/work", "/root", "site-packages", 'File "')


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked in {response.text}"
    return error


def nothing_written(api: ApiHarness) -> None:
    assert api.store.documents.count_documents() == 0
    assert not [p for p in api.settings.blobs_dir.rglob("*") if p.is_file()]
    assert not [p for p in api.settings.pages_dir.rglob("*") if p.is_file()]


def two_page_pdf() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for n in range(2):
        pdf.drawString(72, 720, f"Invoice page {n + 1} total 12.50")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# ---------------------------------------------------------------------------- 401 / 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    ],
)
def test_missing_or_invalid_token_is_401(make_api: ApiFactory, headers: dict[str, str]) -> None:
    api = make_api()
    for method, url in [
        ("GET", "/v1/models"),
        ("GET", "/v1/documents/abc"),
        ("POST", "/v1/commits"),
        ("PUT", "/v1/documents/abc/review"),
    ]:
        response = api.client.request(method, url, headers=headers, json={"document_ids": ["a"]})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert ADMIN_TOKEN not in response.text
    assert_error(api.upload(headers=headers), 401)
    nothing_written(api)


def test_reviewer_cannot_use_admin_endpoints(make_api: ApiFactory) -> None:
    api = make_api()
    error = assert_error(
        api.client.post("/v1/models/classifier/rollback", headers=REVIEWER), 403, "forbidden"
    )
    assert "admin" in error["message"]


def test_token_configuration_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match="entry 2 has unknown role 'root'"):
        TokenTable.parse("a:reviewer,b:root")
    with pytest.raises(ValueError, match="entry 1 is not 'token:role'"):
        TokenTable.parse("justatoken")
    table = TokenTable.parse(" a:reviewer , b:ADMIN ,")
    assert len(table) == 2
    assert table.lookup("b") is not None and table.lookup("b").role == "admin"  # type: ignore[union-attr]
    assert table.lookup("c") is None and table.lookup("") is None


def test_tokens_in_query_strings_are_redacted_from_access_logs() -> None:
    import logging

    from selfimprove_assets.api.auth import RedactTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/review/abc?x=1&token={ADMIN_TOKEN}&y=2", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert ADMIN_TOKEN not in record.getMessage()
    assert "token=***&y=2" in record.getMessage()


# ---------------------------------------------------------------------------- 404 / 409


def test_unknown_document_is_404(make_api: ApiFactory) -> None:
    api = make_api()
    review = {"doc_type": "invoice", "entities": []}
    assert_error(api.client.get("/v1/documents/nope", headers=REVIEWER), 404, "not_found")
    assert_error(api.client.put("/v1/documents/nope/review", json=review, headers=REVIEWER), 404)
    assert_error(api.client.get("/v1/documents/nope/pages/0.png", headers=REVIEWER), 404)
    assert_error(api.client.get("/v1/nothing-here", headers=REVIEWER), 404)
    assert_error(api.client.delete("/v1/models", headers=REVIEWER), 405)


def test_review_after_commit_is_409_and_changes_nothing(make_api: ApiFactory) -> None:
    api = make_api()
    doc_id = api.upload().json()["id"]
    url = f"/v1/documents/{doc_id}/review"
    api.client.put(url, json={"doc_type": "invoice", "entities": []}, headers=REVIEWER)
    api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    before = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
    late = api.client.put(url, json={"doc_type": "lab_report", "entities": []}, headers=REVIEWER)
    assert "already committed" in assert_error(late, 409, "conflict")["message"]
    after = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
    assert after == before


def test_upload_without_default_model_is_409(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    error = assert_error(api.upload(), 409, "no_default_model")
    assert "train a baseline first" in error["message"]
    nothing_written(api)
    models = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    assert models["classifier"]["default_version"] is None


# ---------------------------------------------------------------------------- 413 / 415


def test_too_large_upload_is_413(make_api: ApiFactory) -> None:
    size = api_size = 4096
    api = make_api(config=ApiConfig(max_upload_bytes=api_size, model_refresh_seconds=0))
    data = b"%PDF-1.7\n" + b"0" * size
    response = api.client.post(
        "/v1/documents", files={"file": ("big.pdf", data, "application/pdf")}, headers=REVIEWER
    )
    assert "4,096 bytes" in assert_error(response, 413, "payload_too_large")["message"]
    nothing_written(api)


def test_body_far_over_the_limit_is_refused_before_reading(make_api: ApiFactory) -> None:
    api = make_api(config=ApiConfig(max_upload_bytes=1024, model_refresh_seconds=0))
    data = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    response = api.client.post(
        "/v1/documents", files={"file": ("big.pdf", data, "application/pdf")}, headers=REVIEWER
    )
    assert_error(response, 413, "payload_too_large")

    def chunks():  # no Content-Length: the middleware counts the streamed bytes
        yield b"x" * (2 * 1024 * 1024)

    streamed = api.client.post(
        "/v1/documents",
        content=chunks(),
        headers={**REVIEWER, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert_error(streamed, 413, "payload_too_large")
    nothing_written(api)


def test_too_many_pages_is_413(make_api: ApiFactory) -> None:
    api = make_api(config=ApiConfig(max_pages=1, model_refresh_seconds=0))
    response = api.client.post(
        "/v1/documents",
        files={"file": ("two.pdf", two_page_pdf(), "application/pdf")},
        headers=REVIEWER,
    )
    error = assert_error(response, 413, "too_many_pages")
    assert "2 pages" in error["message"] and "limit of 1" in error["message"]
    nothing_written(api)


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("notes.txt", b"just some text, not a document", "text/plain"),
        ("fake.pdf", b"MZ\x90\x00 an executable renamed to .pdf", "application/pdf"),
        ("doc.gif", b"GIF89a\x01\x00\x01\x00", "image/gif"),
    ],
)
def test_unsupported_type_is_415(
    make_api: ApiFactory, name: str, data: bytes, content_type: str
) -> None:
    api = make_api()
    response = api.client.post(
        "/v1/documents", files={"file": (name, data, content_type)}, headers=REVIEWER
    )
    message = assert_error(response, 415, "unsupported_media_type")["message"]
    assert "PDF, PNG, JPEG or TIFF" in message
    nothing_written(api)


def test_empty_and_corrupt_files_are_422(make_api: ApiFactory) -> None:
    api = make_api()
    for data in (b"", b"%PDF-1.7\n garbage that is not a pdf"):
        response = api.client.post(
            "/v1/documents", files={"file": ("x.pdf", data, "application/pdf")}, headers=REVIEWER
        )
        assert_error(response, 422)
    missing = api.client.post("/v1/documents", data={"external_id": "x"}, headers=REVIEWER)
    assert "file" in assert_error(missing, 422, "invalid_request")["message"]
    nothing_written(api)


# ---------------------------------------------------------------------------- 422


BAD_REVIEWS = [
    {"entities": []},
    {"doc_type": "", "entities": []},
    {"doc_type": "   ", "entities": []},
    {"doc_type": "invoice"},
    {"doc_type": "invoice", "entities": [{"label": "", "text": "x", "page": 0}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "page": -1}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "page": 7}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "bbox": [5, 5, 1, 9]}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "bbox": [1, 9, 5, 5]}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "bbox": [0, 0, 1001, 5]}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "bbox": [0, 0, 5]}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "bbox": [0, 0, 1.5, 5]}]},
    {"doc_type": "invoice", "entities": [{"label": "a", "text": "x", "color": "red"}]},
    {"doc_type": "invoice", "entities": "none"},
    {"doc_type": ["invoice"], "entities": []},
]


def test_malformed_review_is_422_and_writes_nothing(make_api: ApiFactory) -> None:
    api = make_api()
    doc_id = api.upload().json()["id"]
    url = f"/v1/documents/{doc_id}/review"
    for body in BAD_REVIEWS:
        error = assert_error(api.client.put(url, json=body, headers=REVIEWER), 422)
        assert error["code"] == "invalid_request", body
    raw = api.client.put(
        url, content=b"{not json", headers={**REVIEWER, "Content-Type": "application/json"}
    )
    assert_error(raw, 422)
    state = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["review"]
    assert state["reviewed"] is False and state["verified"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"document_ids": []},
        {"document_ids": ["a"] * 1001},
        {"document_ids": [""]},
        {"document_ids": "abc"},
        {},
        {"document_ids": ["x" * 65]},
    ],
)
def test_malformed_commit_is_422(make_api: ApiFactory, body: dict[str, Any]) -> None:
    api = make_api()
    assert_error(api.client.post("/v1/commits", json=body, headers=REVIEWER), 422)
    assert api.store.counters.max_commit_id() == 0


# ---------------------------------------------------------------------------- 500


class BrokenDocuments(DocumentStore):
    def get_document(self, document_id: str) -> dict[str, Any]:
        raise RuntimeError(f"disk failure at {Path('/srv/secret/store.db')} Traceback")


class BrokenStore(FeedbackStore):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.documents = BrokenDocuments(self.db)


def test_unexpected_error_is_a_generic_500(
    make_api: ApiFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = BrokenStore(f"sqlite:///{tmp_path / 'broken.db'}")
    api = make_api(store=store, raise_server_exceptions=False)
    response = api.client.get("/v1/documents/abc", headers=REVIEWER)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal server error; the details are in the server log",
        }
    }
    assert "/srv/secret" in caplog.text  # logged server-side, not sent

"""Malicious input, beyond what ``api/test_errors.py`` and the OpenAPI fuzzing already cover.

Each case is sent to the real app over a real store (SQLite and PostgreSQL: PostgreSQL refuses
some bytes SQLite takes). Every one must get a JSON 4xx, write nothing (rows, blobs, page
caches counted before and after) and leave the server answering ``/health``.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest

from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, ApiHarness

pytestmark = pytest.mark.slow

LEAKS = ("Traceback", "/tmp", "/work", "site-packages", "sqlalchemy", "psycopg")
SQL = "x'); DROP TABLE feedback; --"
SQL_LIKE = [SQL, "1 OR 1=1", '" OR ""="', "'; SELECT pg_sleep(5); --", "%' UNION SELECT * --"]


def png_claiming(width: int, height: int) -> bytes:
    """A real PNG header announcing a huge image; the pixel data are a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def deflated(head: bytes, blank_mib: int = 0) -> bytes:
    """``head`` and then ``blank_mib`` MiB of blanks, deflated without holding them in memory."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(head)]
    block = b" " * (1 << 20)
    parts += [compressor.compress(block) for _ in range(blank_mib)]
    return b"".join([*parts, compressor.flush()])


def pdf_with(content: bytes, mediabox: str = "0 0 612 792", blank_mib: int = 0) -> bytes:
    """A one-page PDF written by hand (so the content stream can be anything)."""
    stream = deflated(content, blank_mib)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [{mediabox}] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>".encode(),
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


TEXT = b"BT /F1 12 Tf 72 720 Td (Invoice total 12.50) Tj ET\n"


def footprint(api: ApiHarness) -> tuple[int, int, int, int]:
    files = [p for d in (api.settings.blobs_dir, api.settings.pages_dir) for p in d.rglob("*")]
    return (
        api.store.documents.count_documents(),
        api.store.counters.count_feedback(),
        api.store.counters.max_commit_id(),
        len([p for p in files if p.is_file()]),
    )


def assert_refused(api: ApiHarness, response: Any, status: int | tuple[int, ...]) -> None:
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"}
    for leak in LEAKS:
        assert leak not in response.text
    assert api.client.get("/health").status_code == 200


def upload(api: ApiHarness, name: str, data: bytes, **form: str) -> Any:
    return api.client.post(
        "/v1/documents",
        files={"file": (name, data, "application/octet-stream")},
        data=form or None,
        headers=REVIEWER,
    )


FILES = [
    # name, bytes, form fields, status
    ("bomb.pdf", pdf_with(TEXT, blank_mib=300), {}, 413),  # 300 MiB of text in ~300 KB
    ("huge-page.pdf", pdf_with(b"", mediabox="0 0 14400 14400"), {}, 413),  # 200 x 200 inch
    ("huge.png", png_claiming(60_000, 60_000), {}, 413),  # 3.6 Gpx header
    ("wide.png", png_claiming(1_000_000, 1), {}, (413, 422)),
    ("ok.pdf", pdf_with(TEXT), {"external_id": "../../etc/passwd"}, 422),
    ("ok.pdf", pdf_with(TEXT), {"external_id": "..\\..\\windows\\win.ini"}, 422),
    ("ok.pdf", pdf_with(TEXT), {"external_id": "claim\x00-1"}, 422),  # PostgreSQL refuses NUL
    ("ok.pdf", pdf_with(TEXT), {"external_id": "line\r\nINJECTED log line"}, 422),
    ("ok.pdf", pdf_with(TEXT), {"external_id": "x" * 201}, 422),
]


def test_malicious_files_are_refused_and_write_nothing(
    make_api: ApiFactory, store_url: str
) -> None:
    api = make_api(store_url, raise_server_exceptions=False)
    before = footprint(api)
    for name, data, form, status in FILES:
        response = upload(api, name, data, **form)
        assert_refused(api, response, status)
        assert footprint(api) == before, (name, form)


def test_hostile_file_names_are_neutralized_never_paths(make_api: ApiFactory) -> None:
    """A client's file name is display text: traversal, NUL and non-UTF-8 bytes never reach a
    path (the stored name is the sanitized base name; the blob is named by its hash)."""
    api = make_api(raise_server_exceptions=False)
    raw_name = b"\xff\xfe\x80/../../../etc/cron.d/x\x00.pdf"
    body = (
        b'--zz\r\nContent-Disposition: form-data; name="file"; filename="'
        + raw_name
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + pdf_with(TEXT)
        + b"\r\n--zz--\r\n"
    )
    response = api.client.post(
        "/v1/documents",
        content=body,
        headers={**REVIEWER, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert response.status_code == 201, response.text
    stored = api.client.get(f"/v1/documents/{response.json()['id']}", headers=REVIEWER).json()
    assert "/" not in stored["filename"] and "\x00" not in stored["filename"]
    assert ".." not in stored["filename"]
    for path in api.settings.home.rglob("*"):
        assert "cron" not in path.name
    assert not (api.settings.home.parent / "etc").exists()


def test_deep_oversized_and_broken_json_is_4xx(make_api: ApiFactory, store_url: str) -> None:
    api = make_api(store_url, raise_server_exceptions=False)
    doc_id = api.upload().json()["id"]
    before = footprint(api)
    url = f"/v1/documents/{doc_id}/review"
    json_headers = {**REVIEWER, "Content-Type": "application/json"}
    deep = b'{"doc_type": "x", "entities": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    nested = b'{"doc_type": "x", "entities": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}"
    oversized = b'{"doc_type": "x", "entities": [], "pad": "' + b"x" * (22 * 1024 * 1024) + b'"}'
    bodies = [
        (deep, (400, 422)),
        (nested, (400, 422)),
        (oversized, 413),
        (b'{"doc_type": "\xff\xfe", "entities": []}', (400, 422)),  # not UTF-8
        (b'{"doc_type": "\\ud800", "entities": []}', 422),  # lone surrogate
        (b'{"doc_type": "x", "entities": [], "doc_type": "y"', (400, 422)),  # truncated
        (b"null", 422),
        (b"[]", 422),
    ]
    for body, status in bodies:
        assert_refused(api, api.client.put(url, content=body, headers=json_headers), status)
    commit_bodies = [
        b'{"document_ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"document_ids": ["a\\u0000b"]}',
        b'{"document_ids": ["\\n' + doc_id.encode() + b'"]}',
    ]
    for body in commit_bodies:
        response = api.client.post("/v1/commits", content=body, headers=json_headers)
        assert_refused(api, response, (400, 422))
    for bad_id in ("a%00b", "a%0Ab", "..%2F..%2Fetc%2Fpasswd"):
        assert_refused(api, api.client.get(f"/v1/documents/{bad_id}", headers=REVIEWER), (404, 422))
    reviews = [
        {"doc_type": "x\x00y", "entities": []},
        {"doc_type": "invoice\nFORGED", "entities": []},
        {"doc_type": "x", "entities": [{"label": "a\x00", "text": "b"}]},
        {"doc_type": "x", "entities": [{"label": "a", "text": "b\x00c"}]},
    ]
    for review in reviews:
        assert_refused(api, api.client.put(url, json=review, headers=REVIEWER), 422)
    assert footprint(api) == before
    state = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["review"]
    assert state["reviewed"] is False


def test_sql_looking_text_is_stored_verbatim_and_runs_nothing(
    make_api: ApiFactory, store_url: str
) -> None:
    """SQL in every text field is data: the store binds parameters, so it round-trips exactly
    and every table is intact afterwards (a 2xx here is correct, not a bypass)."""
    api = make_api(store_url, raise_server_exceptions=False)
    uploaded = upload(api, f"{SQL}.pdf", pdf_with(TEXT), external_id=SQL)
    assert uploaded.status_code == 201, uploaded.text
    doc_id = uploaded.json()["id"]
    entities = [{"label": value, "text": value, "page": 0} for value in SQL_LIKE]
    review = api.client.put(
        f"/v1/documents/{doc_id}/review",
        json={"doc_type": SQL, "entities": entities},
        headers=REVIEWER,
    )
    assert review.status_code == 200, review.text
    for probe in (f"{doc_id}' OR '1'='1", "' OR 1=1 --"):
        assert api.client.get(f"/v1/documents/{probe}", headers=REVIEWER).status_code == 404
    commit = api.client.post(
        "/v1/commits", json={"document_ids": [doc_id, *SQL_LIKE]}, headers=REVIEWER
    )
    assert commit.status_code == 200 and commit.json()["committed"] == 1
    assert commit.json()["unknown"] == len(SQL_LIKE)
    stored = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
    assert stored["external_id"] == SQL
    assert stored["review"]["verified"]["doc_type"] == SQL
    assert [e["text"] for e in stored["review"]["verified"]["entities"]] == SQL_LIKE
    assert api.store.documents.count_documents() == 1 and api.store.counters.count_feedback() == 2
    assert api.store.counters.live_counters("classifier", "1") == api.store.counters.recount(
        "classifier", "1"
    )
    assert api.client.get("/v1/models", headers=REVIEWER).status_code == 200

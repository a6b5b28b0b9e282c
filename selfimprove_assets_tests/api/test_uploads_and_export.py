"""Uploads teams really have (multi-page TIFF faxes, rotated phone JPEGs, a clear 415 for the
rest), and committed reviews out: the admin endpoint, `selfimprove export`, and the round trip
through `selfimprove ingest`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from selfimprove_assets_tests.api.conftest import ADMIN, REVIEWER, ApiFactory, ApiHarness


def _page_images(pdf_path: Path, scale: float = 200 / 72) -> list[Image.Image]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return [pdf[i].render(scale=scale).to_pil().convert("L") for i in range(len(pdf))]  # type: ignore[arg-type]
    finally:
        pdf.close()


def _post(api: ApiHarness, name: str, data: bytes, content_type: str) -> Any:
    return api.client.post(
        "/v1/documents", files={"file": (name, data, content_type)}, headers=REVIEWER
    )


def test_multi_page_tiff_fax_is_read_page_by_page(make_api: ApiFactory) -> None:
    api = make_api()
    first = _page_images(api.models.files[0])[0]
    second = _page_images(api.models.files[1])[0]
    buffer = io.BytesIO()
    # Bilevel pages, as a fax machine sends them.
    fax = [page.convert("1", dither=Image.Dither.NONE) for page in (first, second)]
    fax[0].save(buffer, format="TIFF", save_all=True, append_images=fax[1:], compression="group4")
    response = _post(api, "fax.tif", buffer.getvalue(), "image/tiff")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["page_count"] == 2
    doc = api.client.get(f"/v1/documents/{body['id']}", headers=REVIEWER).json()
    assert doc["media_type"] == "image/tiff" and doc["ocr_pages"] == [0, 1]
    for page in (0, 1):
        png = api.client.get(f"/v1/documents/{body['id']}/pages/{page}.png", headers=REVIEWER)
        assert png.status_code == 200
        assert Image.open(io.BytesIO(png.content)).size[0] > 500
        words = api.client.get(
            f"/v1/documents/{body['id']}/pages/{page}/words", headers=REVIEWER
        ).json()["words"]
        assert len(words) > 10, f"page {page} should have OCR words"
    missing = api.client.get(f"/v1/documents/{body['id']}/pages/2.png", headers=REVIEWER)
    assert missing.status_code == 404


def test_phone_jpeg_with_exif_rotation_is_read_upright(make_api: ApiFactory) -> None:
    api = make_api()
    upright = _page_images(api.models.files[2])[0].convert("RGB")
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    response = _post(api, "IMG_0042.JPG", buffer.getvalue(), "image/jpeg")
    assert response.status_code == 201, response.text
    doc_id = response.json()["id"]
    png = api.client.get(f"/v1/documents/{doc_id}/pages/0.png", headers=REVIEWER)
    rendered = Image.open(io.BytesIO(png.content))
    assert rendered.height > rendered.width  # shown upright, like the page
    words = api.client.get(f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER).json()
    texts = [w["text"] for w in words["words"]]
    # Read upright: most words are real words of the page (sideways OCR gives noise).
    from selfimprove_assets.lib.documents.pages import extract_pages

    truth = {w.text for w in extract_pages(api.models.files[2]).words}
    assert len(texts) > 10 and sum(t in truth for t in texts) / len(texts) > 0.6


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC/HEIF photos are not supported"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP images are not supported"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archives"),
    ],
)
def test_other_formats_get_a_clear_415(make_api: ApiFactory, data: bytes, expected: str) -> None:
    api = make_api()
    response = _post(api, "upload.bin", data + b"\x00" * 64, "application/octet-stream")
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    assert expected in message and "PDF, PNG, JPEG or TIFF" in message
    assert api.store.documents.count_documents() == 0


def _reviewed(api: ApiHarness) -> dict[str, dict[str, Any]]:
    """Two committed documents (one corrected, one with an entity without a box) and one
    reviewed but not committed; returns the committed reviews by id."""
    reviews: dict[str, dict[str, Any]] = {}
    for index, path in enumerate(api.models.files[:3]):
        uploaded = api.upload(path).json()
        prediction = uploaded["prediction"]
        entities = [
            {k: e[k] for k in ("label", "text", "page", "bbox")} for e in prediction["entities"]
        ]
        if index == 0:
            entities[0]["text"] += " (fixed)"
            entities.append({"label": "note", "text": "call back", "page": 0, "bbox": None})
        review = {"doc_type": prediction["doc_type"], "entities": entities}
        saved = api.client.put(
            f"/v1/documents/{uploaded['id']}/review", json=review, headers=REVIEWER
        )
        assert saved.status_code == 200
        if index < 2:
            reviews[uploaded["id"]] = review
    commit = api.client.post("/v1/commits", json={"document_ids": list(reviews)}, headers=REVIEWER)
    assert commit.json()["committed"] == 2
    return reviews


def _entities(items: list[Any]) -> list[tuple[str, str, int, tuple[int, ...] | None]]:
    out = []
    for e in items:
        get = e.get if isinstance(e, dict) else lambda k, e=e: getattr(e, k)
        bbox = get("bbox")
        out.append((get("label"), get("text"), get("page"), tuple(bbox) if bbox else None))
    return sorted(out, key=lambda t: (t[0], t[1], t[2], t[3] or ()))


def test_admin_export_endpoint(make_api: ApiFactory, store_url: str) -> None:
    api = make_api(store_url)
    reviews = _reviewed(api)
    assert api.client.get("/v1/export", headers=REVIEWER).status_code == 403
    body = api.client.get("/v1/export", headers=ADMIN).json()
    # Ordered by commit, then id (both were committed together).
    assert body["total"] == 2 and [i["id"] for i in body["items"]] == sorted(reviews)
    for item in body["items"]:
        review = reviews[item["id"]]
        assert item["doc_type"] == review["doc_type"]
        assert _entities(item["entities"]) == _entities(review["entities"])
        assert item["reviewer"] == "reviewer-1" and item["committed_at"]
    paged = api.client.get("/v1/export", params={"limit": 1, "offset": 1}, headers=ADMIN).json()
    assert [i["id"] for i in paged["items"]] == sorted(reviews)[1:] and paged["next_offset"] is None
    later = api.client.get("/v1/export", params={"since": "2999-01-01"}, headers=ADMIN).json()
    assert later["total"] == 0
    typed = api.client.get("/v1/export", params={"model_type": "extractor"}, headers=ADMIN)
    assert typed.json()["total"] == 2


def test_export_then_ingest_gives_the_same_labels(
    make_api: ApiFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfimprove_assets.cli import app
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.models.dataset import read_dataset

    api = make_api()
    reviews = _reviewed(api)
    # Feedback a promoted model trained on moves to the archive; it is still exported.
    first = next(iter(reviews))
    with api.store.session() as s:
        from sqlalchemy import update

        from selfimprove_assets.lib.store.tables import FeedbackRow

        s.execute(
            update(FeedbackRow)
            .where(FeedbackRow.document_id == first)
            .values(retrained=True, retrain_cycle="c1")
        )
    api.store.cycles.archive_cycle("c1", "2")
    assert api.store.counters.count_feedback(archived=True) == 2

    monkeypatch.setenv("SELFIMPROVE_HOME", str(api.settings.home))
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", api.settings.database_url)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"] == 2
    exported = {d.document_id: d for d in read_labels(out)}
    assert set(exported) == set(reviews)
    for doc_id, review in reviews.items():
        assert exported[doc_id].doc_type == review["doc_type"]
        assert _entities(exported[doc_id].entities) == _entities(review["entities"])
        original = api.store.documents.get_document(doc_id)["blob_uri"]
        assert exported[doc_id].file.read_bytes() == Path(original).read_bytes()

    # Re-ingest the export into a fresh home: the labeled corpus carries the same labels.
    monkeypatch.setenv("SELFIMPROVE_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("SELFIMPROVE_DATABASE_URL")
    ingested = runner.invoke(app, ["ingest", str(out), "--json"])
    assert ingested.exit_code == 0, ingested.output
    corpus = {
        e.document_id: e
        for e in read_dataset(tmp_path / "fresh" / "corpus_build" / "labeled_corpus.parquet")
    }
    assert set(corpus) == set(reviews)
    for doc_id, review in reviews.items():
        assert corpus[doc_id].doc_type == review["doc_type"]
        assert _entities(corpus[doc_id].entities or []) == _entities(review["entities"])

    # Label Studio format: tasks with percent boxes that the importer reads back.
    monkeypatch.setenv("SELFIMPROVE_HOME", str(api.settings.home))
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", api.settings.database_url)
    studio = tmp_path / "studio"
    result = runner.invoke(app, ["export", str(studio), "--format", "label-studio"])
    assert result.exit_code == 0, result.output
    tasks = json.loads((studio / "tasks.json").read_text(encoding="utf-8"))
    assert {t["data"]["document_id"] for t in tasks} == set(reviews)
    assert "<RectangleLabels" in (studio / "label_config.xml").read_text(encoding="utf-8")
    back = tmp_path / "back"
    result = runner.invoke(
        app, ["import", "--from", "label-studio", str(studio / "tasks.json"), str(back)]
    )
    assert result.exit_code == 0, result.output
    reimported = {d.document_id: d for d in read_labels(back)}
    for doc_id, review in reviews.items():
        assert reimported[doc_id].doc_type == review["doc_type"]
        got = _entities(reimported[doc_id].entities)
        want = _entities(review["entities"])
        assert [(g[0], g[1], g[2]) for g in got] == [(w[0], w[1], w[2]) for w in want]
        for g, w in zip(got, want, strict=True):  # percent boxes: within a unit of rounding
            assert (g[3] is None) == (w[3] is None)
            if g[3] and w[3]:
                assert max(abs(a - b) for a, b in zip(g[3], w[3], strict=True)) <= 1

"""Upload -> review -> commit through the API, with counters and live accuracy checked."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from selfimprove_assets_tests.api.conftest import ADMIN, REVIEWER, ApiFactory


def corrected_review(prediction: dict[str, Any], new_type: str) -> dict[str, Any]:
    """A review that changes the type, modifies the first entity, drops the second, adds one."""
    entities = [
        {k: e[k] for k in ("label", "text", "page", "bbox")} for e in prediction["entities"]
    ]
    assert len(entities) >= 2, "the tiny extractor should predict a few entities"
    entities[0]["text"] = entities[0]["text"] + " corrected"
    del entities[1]
    entities.append({"label": "added_label", "text": "typed by hand", "page": 0, "bbox": None})
    return {"doc_type": new_type, "entities": entities}


def other_type(doc_types: list[str], predicted: str) -> str:
    return next(t for t in doc_types if t != predicted)


def test_upload_review_commit_updates_counters(make_api: ApiFactory, store_url: str) -> None:
    api = make_api(store_url)
    uploaded = api.upload(external_id="claim-42")
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    doc_id = body["id"]
    assert body["model_versions"] == {"classifier": "1", "extractor": "1"}
    prediction = body["prediction"]
    assert prediction["doc_type"] in api.models.doc_types
    assert 0.0 <= prediction["doc_type_confidence"] <= 1.0
    assert prediction["needs_review"] is True
    for entity in prediction["entities"]:
        assert set(entity) == {"label", "text", "page", "bbox", "confidence", "auto_accepted"}
        assert entity["auto_accepted"] is False  # a version without cut-offs accepts nothing
        x0, y0, x1, y1 = entity["bbox"]
        assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000

    fetched = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()
    assert fetched["external_id"] == "claim-42"
    assert fetched["prediction"] == prediction
    assert fetched["review"]["reviewed"] is False and fetched["review"]["committed"] is False

    review = corrected_review(prediction, other_type(api.models.doc_types, prediction["doc_type"]))
    saved = api.client.put(f"/v1/documents/{doc_id}/review", json=review, headers=REVIEWER)
    assert saved.status_code == 200, saved.text
    state = saved.json()["review"]
    assert state["reviewed"] is True and state["committed"] is False
    assert state["verified"]["doc_type"] == review["doc_type"]
    assert [e["text"] for e in state["verified"]["entities"]] == [
        e["text"] for e in review["entities"]
    ]
    assert state["reviewer"] == "reviewer-1"

    first = api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["committed"] == 1 and result["already_committed"] == 0
    assert result["corrected"] == {"classifier": 1, "extractor": 1}
    assert result["commit_id"] is not None

    second = api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    again = second.json()
    assert second.status_code == 200
    assert again["committed"] == 0 and again["already_committed"] == 1
    assert again["commit_id"] is None and again["corrected"] == {}
    assert "already committed" in again["message"]

    committed = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["review"]
    assert committed["committed"] is True
    assert committed["corrected"] == {"classifier": True, "extractor": True}

    # Counters equal a recount from the feedback rows, and GET /v1/models reports them.
    for model_type in ("classifier", "extractor"):
        assert api.store.counters.live_counters(model_type, "1") == api.store.counters.recount(
            model_type, "1"
        )
    models = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    classifier = models["classifier"]
    assert classifier["default_version"] == "1" and classifier["serving_version"] == "1"
    assert classifier["retrain_state"] == "COMPLETED"
    assert classifier["thresholds"] == {"doc_type": 0.8}
    live = classifier["live_accuracy"]
    assert live["documents"] == 1
    assert live["overall"]["value"] == 0.0 and live["overall"]["n"] == 1
    assert live["fields"]["doc_type"]["counts"]["corrected"] == 1

    extractor = models["extractor"]["live_accuracy"]
    assert extractor["documents"] == 1
    labels = extractor["fields"]
    assert labels["added_label"]["counts"]["added"] == 1
    assert labels["added_label"]["recall"]["value"] == 0.0
    assert labels["added_label"]["precision"]["n"] == 0
    counters = api.store.counters.live_counters("extractor", "1")
    for label, figures in labels.items():
        c = counters[label]
        total = c["unchanged"] + c["modified"] + c["added"] + c["removed"]
        assert figures["accuracy"]["n"] == total
        expected = c["unchanged"] / total if total else None
        assert figures["accuracy"]["value"] == pytest.approx(expected)
        tp_fp = c["unchanged"] + c["modified"] + c["removed"]
        assert figures["precision"]["n"] == tp_fp
    total_unchanged = sum(c["unchanged"] for c in counters.values())
    total_fields = sum(
        c["unchanged"] + c["modified"] + c["added"] + c["removed"] for c in counters.values()
    )
    assert extractor["overall"]["n"] == total_fields
    assert extractor["overall"]["value"] == pytest.approx(total_unchanged / total_fields)


def test_unchanged_review_counts_as_correct(make_api: ApiFactory) -> None:
    api = make_api()
    body = api.upload().json()
    prediction = body["prediction"]
    review = {
        "doc_type": prediction["doc_type"],
        "entities": [
            {k: e[k] for k in ("label", "text", "page", "bbox")} for e in prediction["entities"]
        ],
    }
    assert (
        api.client.put(
            f"/v1/documents/{body['id']}/review", json=review, headers=REVIEWER
        ).status_code
        == 200
    )
    result = api.client.post(
        "/v1/commits", json={"document_ids": [body["id"]]}, headers=REVIEWER
    ).json()
    assert result["committed"] == 1 and result["corrected"] == {"classifier": 0, "extractor": 0}
    live = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    assert live["classifier"]["live_accuracy"]["overall"]["value"] == 1.0
    assert live["extractor"]["live_accuracy"]["overall"]["value"] == 1.0


def test_commit_reports_unknown_and_unreviewed(make_api: ApiFactory) -> None:
    api = make_api()
    doc_id = api.upload().json()["id"]
    result = api.client.post(
        "/v1/commits", json={"document_ids": [doc_id, "no-such-doc"]}, headers=REVIEWER
    ).json()
    assert result["committed"] == 0
    assert result["not_reviewed"] == 1 and result["unknown"] == 1
    assert result["document_ids"]["unknown"] == ["no-such-doc"]
    assert api.store.counters.live_counters("classifier", "1") == {}


def test_review_can_be_revised_until_commit(make_api: ApiFactory) -> None:
    api = make_api()
    body = api.upload().json()
    url = f"/v1/documents/{body['id']}/review"
    first = {"doc_type": "invoice", "entities": []}
    second = {"doc_type": "lab_report", "entities": [{"label": "mrn", "text": "1", "page": 0}]}
    assert api.client.put(url, json=first, headers=REVIEWER).status_code == 200
    revised = api.client.put(url, json=second, headers=ADMIN).json()["review"]
    assert revised["verified"]["doc_type"] == "lab_report"
    assert revised["verified"]["entities"][0]["bbox"] is None
    assert revised["reviewer"] == "admin-2"


def test_same_file_twice_is_stored_once(make_api: ApiFactory) -> None:
    api = make_api()
    first = api.upload().json()
    second = api.upload().json()
    assert first["id"] != second["id"]
    assert first["content_hash"] == second["content_hash"]
    blobs = [p for p in api.settings.blobs_dir.rglob("*") if p.is_file()]
    parquet = [p for p in api.settings.pages_dir.rglob("*.parquet")]
    assert len(blobs) == 1 and len(parquet) == 1
    assert blobs[0].name == f"{first['content_hash']}.pdf"


def test_client_filename_is_never_a_path(make_api: ApiFactory) -> None:
    api = make_api()
    path = api.models.files[1]
    with path.open("rb") as handle:
        response = api.client.post(
            "/v1/documents",
            files={"file": ("../../etc/evil<na>me.pdf", handle, "application/pdf")},
            headers=REVIEWER,
        )
    assert response.status_code == 201, response.text
    document = api.client.get(f"/v1/documents/{response.json()['id']}", headers=REVIEWER).json()
    assert document["filename"] == "evilname.pdf"
    stored = [p for p in api.settings.home.rglob("*") if p.is_file()]
    assert all("evil" not in p.name for p in stored)
    assert not (api.settings.home.parent / "etc").exists()


def test_png_upload_is_read_with_ocr_and_rendered(make_api: ApiFactory) -> None:
    import pypdfium2 as pdfium

    api = make_api()
    pdf = pdfium.PdfDocument(str(api.models.files[2]))
    image = pdf[0].render(scale=2).to_pil()
    pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = api.client.post(
        "/v1/documents",
        files={"file": ("scan.png", buffer.getvalue(), "image/png")},
        headers=REVIEWER,
    )
    assert response.status_code == 201, response.text
    doc = api.client.get(f"/v1/documents/{response.json()['id']}", headers=REVIEWER).json()
    assert doc["media_type"] == "image/png" and doc["ocr_pages"] == [0]
    page = api.client.get(f"/v1/documents/{doc['id']}/pages/0.png", headers=REVIEWER)
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(page.content)).size[0] > 100


def test_page_image_of_a_pdf(make_api: ApiFactory) -> None:
    api = make_api()
    doc_id = api.upload().json()["id"]
    page = api.client.get(f"/v1/documents/{doc_id}/pages/0.png", headers=REVIEWER)
    assert page.status_code == 200
    image = Image.open(io.BytesIO(page.content))
    assert image.format == "PNG" and image.width > 500
    assert (
        api.client.get(f"/v1/documents/{doc_id}/pages/3.png", headers=REVIEWER).status_code == 404
    )
    assert api.client.get(f"/v1/documents/{doc_id}/pages/0.png").status_code == 401


def test_health_is_open_and_review_page_is_served(make_api: ApiFactory) -> None:
    api = make_api()
    health = api.client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = api.client.get("/review/abc123")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/review.js" in page.text
    assert api.client.get("/static/review.js").status_code == 200


def test_every_script_of_the_review_page_is_served(make_api: ApiFactory) -> None:
    api = make_api()
    page = api.client.get("/review").text
    scripts = re.findall(r'<script src="([^"]+)"></script>', page)
    assert scripts[0] == "/static/review.js" and len(scripts) == len(set(scripts)) > 1
    for src in scripts:
        served = api.client.get(src)
        assert served.status_code == 200 and "javascript" in served.headers["content-type"], src
        assert served.text.lstrip().startswith("//") and '"use strict";' in served.text, src


def test_rollback_moves_default_and_champion(make_api: ApiFactory) -> None:
    from mlflow import MlflowClient

    from selfimprove_assets_tests.api.conftest import register

    api = make_api()
    client = MlflowClient(tracking_uri=api.models.tracking_uri)
    register(api.store, api.models, "classifier", "2", parent="1")
    client.set_registered_model_alias("doc-classifier", "champion", "2")  # as a promotion does
    forbidden = api.client.post("/v1/models/classifier/rollback", headers=REVIEWER)
    assert forbidden.status_code == 403
    response = api.client.post("/v1/models/classifier/rollback", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_type": "classifier",
        "previous_version": "2",
        "default_version": "1",
    }
    default = api.store.models.get_default("classifier")
    assert default is not None and default.version == "1"
    assert str(client.get_model_version_by_alias("doc-classifier", "champion").version) == "1"
    # v1 has no parent: nothing further to roll back to.
    again = api.client.post("/v1/models/classifier/rollback", headers=ADMIN)
    assert again.status_code == 409
    assert api.client.post("/v1/models/nonsense/rollback", headers=ADMIN).status_code == 404

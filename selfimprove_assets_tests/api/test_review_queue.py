"""The review workflow's API: the queue, page words, label lists, named reviewers, and a
prediction sent back unchanged as the review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from selfimprove_assets.api.auth import Role, TokenTable
from selfimprove_assets_tests.api.conftest import (
    ADMIN_TOKEN,
    REVIEWER,
    REVIEWER_TOKEN,
    ApiFactory,
    ApiHarness,
)


def _queue(api: ApiHarness, **params: str | int) -> dict:
    response = api.client.get("/v1/documents", params=params, headers=REVIEWER)
    assert response.status_code == 200, response.text
    return response.json()


def test_prediction_sent_back_unchanged_is_accepted_as_correct(make_api: ApiFactory) -> None:
    api = make_api()
    uploaded = api.upload().json()
    prediction = uploaded["prediction"]
    assert prediction["entities"] and all("confidence" in e for e in prediction["entities"])
    # The whole prediction object, confidences and thresholds included, is a valid review.
    saved = api.client.put(
        f"/v1/documents/{uploaded['id']}/review", json=prediction, headers=REVIEWER
    )
    assert saved.status_code == 200, saved.text
    verified = saved.json()["review"]["verified"]
    assert verified["doc_type"] == prediction["doc_type"]
    assert all(e["confidence"] is None for e in verified["entities"])  # not stored as verified
    result = api.client.post(
        "/v1/commits", json={"document_ids": [uploaded["id"]]}, headers=REVIEWER
    ).json()
    assert result["committed"] == 1
    assert result["corrected"] == {"classifier": 0, "extractor": 0}
    # Unknown fields are still refused.
    refused = api.client.put(
        f"/v1/documents/{api.upload(api.models.files[1]).json()['id']}/review",
        json=prediction | {"surprise": 1},
        headers=REVIEWER,
    )
    assert refused.status_code == 422


def test_token_names_are_stable_and_the_old_form_still_works() -> None:
    table = TokenTable.parse("t1:reviewer:alice, t2:admin ,t:3:reviewer:bob.smith@example")
    assert table.lookup("t1") is not None and table.lookup("t1").name == "alice"  # type: ignore[union-attr]
    admin = table.lookup("t2")
    assert admin is not None and admin.role is Role.ADMIN and admin.name == "admin-2"
    bob = table.lookup("t:3")  # a token may hold a colon
    assert bob is not None and bob.name == "bob.smith@example" and bob.role is Role.REVIEWER
    # Reordering the list does not rename a named reviewer.
    reordered = TokenTable.parse("t2:admin,t:3:reviewer:bob.smith@example,t1:reviewer:alice")
    assert reordered.lookup("t1").name == "alice"  # type: ignore[union-attr]
    for bad in ("t1:reviewer:al ice", "t1:reviewer:", "t1:reviewer:-x", ":reviewer:alice"):
        with pytest.raises(ValueError, match="entry 1"):
            TokenTable.parse(bad)


def test_named_reviewer_is_recorded_on_review_and_commit(make_api: ApiFactory) -> None:
    api = make_api()
    api.app.state.tokens = TokenTable.parse(  # type: ignore[attr-defined]
        f"{ADMIN_TOKEN}:admin:root,{REVIEWER_TOKEN}:reviewer:alice"
    )
    uploaded = api.upload().json()
    doc_id = uploaded["id"]
    api.client.put(f"/v1/documents/{doc_id}/review", json=uploaded["prediction"], headers=REVIEWER)
    api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    review = api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["review"]
    assert review["reviewer"] == "alice" and review["committed_by"] == "alice"
    queue = _queue(api, status="committed")
    assert [(i["id"], i["reviewer"]) for i in queue["items"]] == [(doc_id, "alice")]


def test_queue_filters_orders_and_pages(make_api: ApiFactory, store_url: str) -> None:
    api = make_api(store_url)
    uploads = [api.upload(f).json() for f in api.models.files[:4]]
    ids = [u["id"] for u in uploads]
    assert uploads[0]["review_url"] == f"/review/{ids[0]}"

    everything = _queue(api)
    assert everything["total"] == 4 and [i["id"] for i in everything["items"]] == ids
    assert everything["next_offset"] is None
    assert {i["status"] for i in everything["items"]} == {"unreviewed"}
    assert everything["items"][0]["review_url"] == f"/review/{ids[0]}"
    assert everything["items"][0]["model_versions"] == {"classifier": "1", "extractor": "1"}

    # Least certain first: the least confidence over the type and every entity.
    def least(u: dict) -> float:
        p = u["prediction"]
        return min([p["doc_type_confidence"], *(e["confidence"] for e in p["entities"])])

    by_confidence = _queue(api, order="confidence")["items"]
    assert [i["id"] for i in by_confidence] == [
        u["id"] for u in sorted(uploads, key=lambda u: (least(u), ids.index(u["id"])))
    ]
    assert by_confidence[0]["confidence"] == pytest.approx(
        least(uploads[ids.index(by_confidence[0]["id"])])
    )
    assert [i["id"] for i in _queue(api, order="newest")["items"]] == ids[::-1]

    # Review one, review and commit another.
    for doc in (uploads[1], uploads[2]):
        saved = api.client.put(
            f"/v1/documents/{doc['id']}/review", json=doc["prediction"], headers=REVIEWER
        )
        assert saved.status_code == 200
    api.client.post("/v1/commits", json={"document_ids": [ids[2]]}, headers=REVIEWER)
    assert [i["id"] for i in _queue(api, status="unreviewed")["items"]] == [ids[0], ids[3]]
    reviewed = _queue(api, status="reviewed")["items"]
    assert [i["id"] for i in reviewed] == [ids[1]] and reviewed[0]["reviewer"] == "reviewer-1"
    committed = _queue(api, status="committed")["items"]
    assert [i["id"] for i in committed] == [ids[2]] and committed[0]["committed_at"] is not None

    # Paging.
    first = _queue(api, limit=3)
    assert len(first["items"]) == 3 and first["next_offset"] == 3 and first["total"] == 4
    rest = _queue(api, limit=3, offset=first["next_offset"])
    assert [i["id"] for i in rest["items"]] == [ids[3]] and rest["next_offset"] is None

    # Type, version and age filters.
    a_type = uploads[0]["prediction"]["doc_type"]
    typed = _queue(api, doc_type=a_type)
    assert typed["total"] == sum(u["prediction"]["doc_type"] == a_type for u in uploads)
    assert all(i["predicted_doc_type"] == a_type for i in typed["items"])
    assert _queue(api, model_version="1", model_type="extractor")["total"] == 4
    assert _queue(api, model_version="2")["total"] == 0
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert _queue(api, since=future)["total"] == 0
    assert _queue(api, since=past)["total"] == 4

    bad = api.client.get("/v1/documents", params={"status": "done"}, headers=REVIEWER)
    assert bad.status_code == 422
    assert api.client.get("/v1/documents").status_code == 401


def test_page_words_and_label_lists(make_api: ApiFactory) -> None:
    api = make_api()
    uploaded = api.upload().json()
    doc_id = uploaded["id"]
    response = api.client.get(f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER)
    assert response.status_code == 200, response.text
    words = response.json()["words"]
    assert len(words) > 10
    for word in words:
        x0, y0, x1, y1 = word["bbox"]
        assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000 and word["text"]
    texts = {w["text"] for w in words}
    predicted = uploaded["prediction"]["entities"][0]["text"].split()
    assert set(predicted) <= texts
    # The words cache may be cleared: the words are extracted again from the stored file.
    for cached in api.settings.pages_dir.rglob("*.parquet"):
        cached.unlink()
    again = api.client.get(f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER)
    assert again.status_code == 200 and again.json()["words"] == words
    missing = api.client.get(f"/v1/documents/{doc_id}/pages/9/words", headers=REVIEWER)
    assert missing.status_code == 404

    labels = api.client.get("/v1/labels", headers=REVIEWER).json()
    assert set(api.models.doc_types) <= set(labels["doc_types"])
    assert set(api.models.labels) <= set(labels["labels"])
    assert not any(label.startswith(("B-", "I-")) or label == "O" for label in labels["labels"])
    # A label a reviewer used (and committed) joins the list.
    review = uploaded["prediction"] | {
        "entities": [{"label": "stamp_date", "text": "01/02/2026", "page": 0, "bbox": None}]
    }
    api.client.put(f"/v1/documents/{doc_id}/review", json=review, headers=REVIEWER)
    api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    assert "stamp_date" in api.client.get("/v1/labels", headers=REVIEWER).json()["labels"]

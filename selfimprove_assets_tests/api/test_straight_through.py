"""Straight-through processing over real HTTP: routing, the queue's views, QA and commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.lib.models.spec import ModelSpec
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, ApiHarness


@contextmanager
def accepting_everything(api: ApiHarness) -> Iterator[None]:
    """The served versions' specs with a cut-off of 0 for every field (all accepted)."""
    served = api.provider.current()
    specs: list[ModelSpec] = [p.bundle.spec for p in (served.classifier, served.extractor) if p]
    saved = [(s.cutoffs, s.required_labels) for s in specs]
    try:
        for spec in specs:
            names = ["doc_type"] if spec.model_type == "classifier" else api.models.labels
            spec.cutoffs = dict.fromkeys(names, 0.0)
            spec.required_labels = {}
        yield
    finally:
        for spec, (cutoffs, required) in zip(specs, saved, strict=True):
            spec.cutoffs, spec.required_labels = cutoffs, required


def _queue(api: ApiHarness, view: str | None = None) -> list[str]:
    params = {"view": view} if view else {}
    body = api.client.get("/v1/documents", params=params, headers=REVIEWER).json()
    return [item["id"] for item in body["items"]]


def test_a_straight_through_document_skips_the_queue_and_counts_for_nothing(
    make_api: ApiFactory,
) -> None:
    api = make_api(config=ApiConfig(model_refresh_seconds=0, qa_share=0.0))
    held = api.upload().json()["id"]  # no cut-offs yet: needs review
    with accepting_everything(api):
        body = api.upload().json()
    doc_id, prediction = body["id"], body["prediction"]
    assert prediction["needs_review"] is False and prediction["doc_type_auto_accepted"] is True
    assert prediction["entities"] and all(e["auto_accepted"] for e in prediction["entities"])
    assert prediction["thresholds"]["doc_type"] == 0.0
    assert _queue(api) == [held]
    assert _queue(api, "straight_through") == [doc_id]
    assert set(_queue(api, "all")) == {held, doc_id}
    stored = api.store.documents.get_document(doc_id)
    assert stored["needs_review"] is False and stored["qa_sample"] is False

    # sent back unchanged (auto_accepted included) it is a valid review; committing it counts
    # its untouched accepted fields neither as corrections nor as confirmations
    saved = api.client.put(f"/v1/documents/{doc_id}/review", json=prediction, headers=REVIEWER)
    assert saved.status_code == 200, saved.text
    done = api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    assert done.status_code == 200, done.text
    assert done.json()["corrected"] == {"classifier": 0, "extractor": 0}
    for model_type in ("classifier", "extractor"):
        counters = api.store.counters.live_counters(model_type, "1")
        assert all(
            c.get("unchanged", 0) == 0 and c.get("modified", 0) == 0 for c in counters.values()
        )

    # an accepted field the reviewer changes is a correction
    with accepting_everything(api):
        other = api.upload().json()
    review = dict(other["prediction"])
    review["entities"] = [dict(e) for e in review["entities"]]
    review["entities"][0]["text"] = review["entities"][0]["text"] + " changed"
    api.client.put(f"/v1/documents/{other['id']}/review", json=review, headers=REVIEWER)
    result = api.client.post("/v1/commits", json={"document_ids": [other["id"]]}, headers=REVIEWER)
    assert result.json()["corrected"]["extractor"] == 1


def test_qa_documents_go_to_reviewers_marked_and_unanchored(make_api: ApiFactory) -> None:
    api = make_api(config=ApiConfig(model_refresh_seconds=0, qa_share=1.0))
    with accepting_everything(api):
        body = api.upload().json()
    doc_id, prediction = body["id"], body["prediction"]
    assert prediction["needs_review"] is True
    assert not any(e["auto_accepted"] for e in prediction["entities"])
    assert prediction["doc_type_auto_accepted"] is None or not prediction["doc_type_auto_accepted"]
    assert _queue(api) == [doc_id]
    stored = api.store.documents.get_document(doc_id)
    assert stored["qa_sample"] is True and stored["needs_review"] is False
    predicted = stored["feedback"]["extractor"]["predicted"]["entities"]
    assert all(e["qa_accepted"] for e in predicted)  # what QA measures
    # reviewed and committed, a QA document's fields count like any other
    api.client.put(f"/v1/documents/{doc_id}/review", json=prediction, headers=REVIEWER)
    api.client.post("/v1/commits", json={"document_ids": [doc_id]}, headers=REVIEWER)
    counters = api.store.counters.live_counters("extractor", "1")
    assert sum(c.get("unchanged", 0) for c in counters.values()) == len(predicted)


def test_models_report_automation_and_qa_accuracy(make_api: ApiFactory) -> None:
    api = make_api(config=ApiConfig(model_refresh_seconds=0, qa_share=1.0))
    api.upload()  # no cut-offs: needs review
    with accepting_everything(api):
        qa_doc = api.upload().json()
    api.client.put(
        f"/v1/documents/{qa_doc['id']}/review", json=qa_doc["prediction"], headers=REVIEWER
    )
    api.client.post("/v1/commits", json={"document_ids": [qa_doc["id"]]}, headers=REVIEWER)
    models = api.client.get("/v1/models", headers=REVIEWER).json()["models"]
    auto = models["extractor"]["automation"]
    assert auto["documents"] == 2 and auto["document_rate"] == 0.5
    assert 0.0 < auto["field_rate"] < 1.0
    qa = auto["qa_accuracy"]
    assert qa and all(v["value"] == 1.0 and v["lower"] < 1.0 for v in qa.values())
    assert models["classifier"]["automation"]["qa_accuracy"]["doc_type"]["n"] == 1

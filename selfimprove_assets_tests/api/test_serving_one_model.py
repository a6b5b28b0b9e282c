"""Serving with one model when the data does not need the other (a one-type corpus has no
classifier; a corpus without entities no extractor), and refusing when it does need it."""

from __future__ import annotations

from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY, DataSummary
from selfimprove_assets.lib.store.repository import NO_MODEL_VERSION, FeedbackStore
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, TinyModels


def _deploy_alone(
    store: FeedbackStore, models: TinyModels, model_type: str, data: DataSummary
) -> None:
    """``model_type`` V1 as the only default, recording the training data it was trained on."""
    store.models.register_version(
        model_type=model_type, version="1", registry_name=models.registry_names[model_type]
    )
    metrics = {TRAINING_DATA_KEY: data.to_dict()}
    store.models.set_default(model_type, "1", thresholds={}, baseline_metrics=metrics)


def test_one_type_corpus_is_served_by_the_extractor_alone(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    one_type = DataSummary(doc_types={"invoice": 30}, entity_labels={"total": 30})
    _deploy_alone(api.store, api.models, "extractor", one_type)
    response = api.upload()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model_versions"] == {"classifier": None, "extractor": "1"}
    assert body["prediction"]["doc_type"] == "invoice"
    assert body["prediction"]["doc_type_confidence"] is None
    stored = api.store.documents.get_document(body["id"])["feedback"]
    assert stored["classifier"]["model_version"] == NO_MODEL_VERSION
    assert "nothing to classify" in stored["classifier"]["predicted"]["not_needed"]

    # the reviewer changes the type: kept with the review, counted toward no classifier
    review = {"doc_type": "referral", "entities": body["prediction"]["entities"]}
    put = api.client.put(f"/v1/documents/{body['id']}/review", headers=REVIEWER, json=review)
    assert put.status_code == 200, put.text
    commit = api.client.post("/v1/commits", headers=REVIEWER, json={"document_ids": [body["id"]]})
    assert commit.status_code == 200 and commit.json()["committed"] == 1
    assert commit.json()["corrected"].get("classifier", 0) == 0
    assert api.store.counters.live_counters("classifier", NO_MODEL_VERSION) == {}
    assert api.store.counters.counter_commit_total("extractor", "1") == 1
    assert api.store.curation.verified_doc_types() == {"referral": 1}
    doc = api.client.get(f"/v1/documents/{body['id']}", headers=REVIEWER).json()
    assert doc["review"]["committed"] and doc["review"]["verified"]["doc_type"] == "referral"
    assert doc["model_versions"] == {"classifier": None, "extractor": "1"}


def test_corpus_without_entities_is_served_by_the_classifier_alone(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    types_only = DataSummary(doc_types={"invoice": 10, "referral": 12})
    _deploy_alone(api.store, api.models, "classifier", types_only)
    response = api.upload()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model_versions"] == {"classifier": "1", "extractor": None}
    assert body["prediction"]["entities"] == [] and body["prediction"]["doc_type"]


def test_a_needed_model_without_a_default_still_refuses_uploads(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    two_types = DataSummary(doc_types={"invoice": 10, "referral": 12}, entity_labels={"t": 9})
    _deploy_alone(api.store, api.models, "extractor", two_types)
    response = api.upload()
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "no_default_model" and "no default classifier" in error["message"]

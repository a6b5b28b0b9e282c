"""One-type and entity-only corpora: a model type the data does not need is not trained, the
other one runs the loop alone, and the classifier joins once reviewers verify a second type."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from selfimprove_assets.api.app import create_app
from selfimprove_assets.defs.training.assets import SMOKE_BASELINES
from selfimprove_assets.lib.documents.labels import LabeledDocument, read_labels, write_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.evaluation.corpus_eval import evaluate_folder
from selfimprove_assets.lib.feedback.live import default_versions
from selfimprove_assets.lib.models.tiny import tiny_backbone_for
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets_tests.loop_env import BASELINES, TOKEN, LoopEnv, loop_env_for

pytestmark = pytest.mark.slow

ONE_TYPE = "intake_form"
Relabel = Callable[[LabeledDocument], LabeledDocument]


def _relabel(folder: Path, change: Relabel) -> None:
    write_labels(folder, [change(d) for d in read_labels(folder)])


def _one_type(doc: LabeledDocument) -> LabeledDocument:
    return replace(doc, doc_type=ONE_TYPE)


def _no_entities(doc: LabeledDocument) -> LabeledDocument:
    return replace(doc, entities=[])


def _env(root: Path, change: Relabel, n_stream: int = 0) -> tuple[LoopEnv, Path]:
    corpus = root / "corpus"
    stream = root / "stream"
    generate_corpus(corpus, n=30, seed=0, scenario="baseline", scan_share=0.0)
    _relabel(corpus, change)
    folders = [corpus]
    if n_stream:
        generate_corpus(stream, n=n_stream, seed=7, scenario="baseline", scan_share=0.0)
        folders.append(stream)
    backbone = tiny_backbone_for(folders, root / "tiny-backbone")
    settings = load_settings(
        {
            "SELFIMPROVE_HOME": str(root / "home"),
            "SELFIMPROVE_BACKBONE": str(backbone),
            "SELFIMPROVE_API_TOKENS": f"{TOKEN}:admin",
        }
    )
    env = loop_env_for(settings, stream, epochs=3, min_commits=4)
    assert env.ingest(corpus).success
    return env, corpus


def _baseline_metadata(result: Any, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(key):
            return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialized")


def _review(env: LoopEnv, docs: list[LabeledDocument]) -> tuple[dict[str, int], list[dict]]:
    """Stream ``docs`` through the API (upload, review with the truth, commit); returns the
    reviewer's counts and the documents as the API shows them afterwards."""
    app = create_app(env.settings, store=env.store)
    with TestClient(app) as client:
        sim = ReviewerSimulator(
            "http://test",
            TOKEN,
            error_rate=0.0,
            rng=random.Random(0),
            client=client,  # type: ignore[arg-type]  # TestClient is an httpx.Client in-process
        )
        sim.review_batch(docs)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        documents = []
        for uploaded in sim.predictions:
            response = client.get(f"/v1/documents/{uploaded['document_id']}", headers=headers)
            assert response.status_code == 200, response.text
            documents.append(response.json())
    return sim.stats, documents


def test_one_type_corpus_runs_the_extractor_alone_until_a_second_type_arrives(
    tmp_path: Path,
) -> None:
    env, corpus = _env(tmp_path, _one_type, n_stream=24)
    result = env.materialize(BASELINES, SMOKE_BASELINES)
    assert result.success
    classifier = _baseline_metadata(result, "classifier_baseline")
    assert classifier["needed"] is False and ONE_TYPE in classifier["not_needed"]
    assert "nothing to classify" in classifier["not_needed"]
    assert _baseline_metadata(result, "extractor_baseline")["needed"] is True
    assert env.store.models.get_default("classifier") is None
    extractor = env.store.models.get_default("extractor")
    assert extractor is not None and extractor.version == "1"
    client = MlflowClient(tracking_uri=env.settings.mlflow_tracking_uri)
    assert not client.search_model_versions("name='doc-classifier'")  # nothing was trained

    # evaluate: the extractor is scored, the classifier reported as not trained/needed
    report = evaluate_folder(env.settings, corpus, defaults=default_versions(env.store))
    assert report["not_scored"] == ["classifier"] and "extractor" in report["reports"]

    # serve: uploads are predicted by the extractor alone, the type is the corpus's one type
    stream = read_labels(env.stream)
    first = [_one_type(d) for d in stream[:12]]
    stats, documents = _review(env, first)
    assert stats["failed"] == 0 and stats["committed"] == 12
    assert all(d["model_versions"] == {"classifier": None, "extractor": "1"} for d in documents)
    assert all(d["prediction"]["doc_type"] == ONE_TYPE for d in documents)
    assert all(d["review"]["committed"] for d in documents)
    # the commit counts toward the extractor only: no counters for a classifier that does not exist
    assert env.store.counters.counter_commit_total("extractor", "1") == 12
    assert env.store.counters.live_counters("classifier", "") == {}
    extractor_tick = env.tick("extractor")
    assert [e.asset_key for e in extractor_tick.asset_events] == [dg.AssetKey("extractor_accuracy")]
    classifier_tick = env.tick("classifier")
    assert not classifier_tick.run_requests
    assert "classifier not needed" in (classifier_tick.skip_message or "")

    # reviewers verify other types: the classifier joins the loop
    second = [d for d in stream[12:] if d.doc_type != ONE_TYPE]
    assert second
    stats, _ = _review(env, second)
    assert stats["failed"] == 0
    data = env.tick("classifier")
    assert len(data.run_requests) == 1, data.skip_message
    request = data.run_requests[0]
    assert request.job_name == "classifier_joins_loop"
    job = env.repo.get_job("classifier_joins_loop")
    config = request.run_config["ops"]["classifier_baseline"]["config"] | {
        "require_learning": False
    }
    run = job.execute_in_process(
        instance=env.instance,
        tags={**request.tags, "dagster/run_key": str(request.run_key)},  # as the daemon does
        run_config={"ops": {"classifier_baseline": {"config": config}}},
    )
    assert run.success
    joined = _baseline_metadata(run, "classifier_baseline")
    assert joined["needed"] is True and joined["reviewed_documents"] == 12 + len(second)
    trained_types = set(joined["training_data"]["doc_types"])
    assert trained_types == {ONE_TYPE} | {d.doc_type for d in second}
    default = env.store.models.get_default("classifier")
    assert default is not None and default.version == "1"
    assert str(client.get_model_version_by_alias("doc-classifier", "champion").version) == "1"
    # from now on the classifier's sensor watches its own live figures (none committed yet)
    assert not env.tick("classifier").run_requests
    _, documents = _review(env, [_one_type(stream[0])])
    newest = [d for d in documents if d["model_versions"]["classifier"] == "1"]
    assert len(newest) == 1


def test_a_corpus_without_entities_runs_the_classifier_alone(tmp_path: Path) -> None:
    env, _ = _env(tmp_path, _no_entities)
    result = env.materialize(BASELINES, SMOKE_BASELINES)
    assert result.success
    extractor = _baseline_metadata(result, "extractor_baseline")
    assert extractor["needed"] is False and "nothing to extract" in extractor["not_needed"]
    assert env.store.models.get_default("extractor") is None
    assert env.store.models.get_default("classifier") is not None
    docs = read_labels(tmp_path / "corpus")[:4]
    stats, documents = _review(env, docs)
    assert stats["failed"] == 0 and stats["committed"] == 4
    assert all(d["model_versions"]["extractor"] is None for d in documents)
    assert all(d["prediction"]["entities"] == [] for d in documents)
    assert env.store.counters.counter_commit_total("classifier", "1") == 4
    data = env.tick("extractor")
    assert not data.run_requests and "extractor not needed" in (data.skip_message or "")

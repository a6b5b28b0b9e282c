"""``selfimprove evaluate DIR`` end to end: a real (tiny) extractor, real PDFs, real stores."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from selfimprove_assets.cli import app
from selfimprove_assets.lib.deployment import deploy_version
from selfimprove_assets.lib.documents.labels import CorpusError, read_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.evaluation.corpus_eval import NO_DEFAULT, evaluate_folder, load_folder
from selfimprove_assets.lib.feedback.live import default_versions
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.tiny import tiny_backbone_for
from selfimprove_assets.lib.models.training import TrainConfig, train
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState

MISSING_TEXT = "qqzx wvvk 99999"  # on no page of the synthetic corpus


@dataclass
class Env:
    settings: Settings
    env: dict[str, str]
    corpus: Path  # labels as generated, with splits.json
    extra: Path  # the same files, one more labeled entity that is on no page
    no_splits: Path
    test_ids: list[str]


def _write_labels(folder: Path, records: list[dict[str, Any]]) -> None:
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    (folder / "labels.jsonl").write_text(lines, encoding="utf-8")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("evaluate")
    corpus = root / "corpus"
    generate_corpus(corpus, n=12, seed=3, scenario="baseline", scan_share=0.0)
    records: list[dict[str, Any]] = [
        json.loads(line) for line in (corpus / "labels.jsonl").read_text().splitlines() if line
    ]
    ids = [str(r["document_id"]) for r in records]
    test_ids = ids[-4:]
    (corpus / "splits.json").write_text(json.dumps({"train": ids[:-4], "test": test_ids}))
    no_splits = root / "no_splits"
    shutil.copytree(corpus, no_splits)
    (no_splits / "splits.json").unlink()
    extra = root / "extra"
    shutil.copytree(corpus, extra)
    label = records[0]["entities"][0]["label"]
    records[0]["entities"].append({"label": label, "text": MISSING_TEXT, "page": 0})
    _write_labels(extra, records)

    backbone = tiny_backbone_for([corpus], root / "tiny-backbone")
    vars_ = {"SELFIMPROVE_HOME": str(root / "home"), "SELFIMPROVE_BACKBONE": str(backbone)}
    settings = load_settings(vars_)
    settings.ensure_dirs()
    examples = load_folder(settings, corpus).examples
    config = TrainConfig(
        epochs=3, learning_rate=1e-2, batch_size=8, max_length=128, stride=32, progress=False
    )
    result = train("extractor", examples, backbone=str(backbone), config=config)
    registry = ModelRegistry(
        settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
    )
    run_id = registry.start_run("extractor")
    version = registry.register_bundle(run_id, result.bundle).version
    registry.end_run(run_id)
    deploy_version(
        FeedbackStore(settings.database_url),
        MlflowClient(tracking_uri=settings.mlflow_tracking_uri),
        model_type="extractor",
        version=version,
        field_accuracy={},
        metrics={},
        margin=0.05,
        mlflow_run_id=run_id,
        parent_version=None,
        state=RetrainState.IDLE,
    )
    return Env(settings, vars_, corpus, extra, no_splits, test_ids)


def _defaults(env: Env) -> dict[str, str | None]:
    store = FeedbackStore(env.settings.database_url)
    try:
        return default_versions(store)
    finally:
        store.dispose()


def _micro(report: dict[str, Any]) -> dict[str, Any]:
    return report["reports"]["extractor"]["report"]["micro"]


def test_only_an_extractor_default_scores_it_and_says_so_for_the_classifier(env: Env) -> None:
    report = evaluate_folder(env.settings, env.corpus, defaults=_defaults(env))
    assert report["documents"] == 12 and report["rejected"] == [] and report["split"] == "all"
    assert report["not_scored"] == ["classifier"] and set(report["reports"]) == {"extractor"}
    classifier_rows = [r for r in report["rows"] if r["model"] == "classifier"]
    assert [r["field"] for r in classifier_rows] == [NO_DEFAULT]
    fields = [r["field"] for r in report["rows"] if r["model"] == "extractor"]
    assert fields[0] == "micro" and len(fields) > 1
    labeled = sum(len(d.entities) for d in read_labels(env.corpus))
    coverage = report["coverage"]
    assert coverage["entities_total"] == labeled == _micro(report)["support"]
    assert coverage["entities_aligned"] == labeled  # text PDFs: every label is on its page
    assert coverage["ocr_word_recall"] == 1.0 and coverage["labeled_words"] > labeled
    assert {r["label"] for r in report["coverage_rows"]} == set(coverage["alignment_by_label"])


def test_an_entity_on_no_page_is_a_miss_that_lowers_recall(env: Env) -> None:
    base = evaluate_folder(env.settings, env.corpus, defaults=_defaults(env))
    more = evaluate_folder(env.settings, env.extra, defaults=_defaults(env))
    b, m = _micro(base), _micro(more)
    assert m["support"] == b["support"] + 1
    assert m["true_positives"] == b["true_positives"]
    assert m["recall"] == pytest.approx(b["true_positives"] / m["support"])
    coverage = more["coverage"]
    assert coverage["entities_aligned"] == coverage["entities_total"] - 1
    assert coverage["ocr_word_recall"] < 1.0
    unaligned = [r for r in more["coverage_rows"] if r["aligned"] < r["total"]]
    assert len(unaligned) == 1 and unaligned[0]["unaligned"] == "text_not_found 1"


def test_split_test_scores_only_the_test_ids(env: Env) -> None:
    report = evaluate_folder(env.settings, env.corpus, split="test", defaults=_defaults(env))
    assert report["split"] == "test" and report["documents"] == len(env.test_ids) == 4
    assert report["reports"]["extractor"]["n_documents"] == 4
    test_labels = sum(
        len(d.entities) for d in read_labels(env.corpus) if d.document_id in env.test_ids
    )
    assert _micro(report)["support"] == test_labels
    with pytest.raises(CorpusError, match="has no splits.json"):
        evaluate_folder(env.settings, env.no_splits, split="test", defaults=_defaults(env))
    with pytest.raises(ValueError, match="unknown split"):
        evaluate_folder(env.settings, env.corpus, split="validation", defaults=_defaults(env))


def test_cli_json_and_errors(env: Env) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["evaluate", str(env.corpus), "--split", "test", "--json"], env=env.env)
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["documents"] == 4 and data["coverage"]["alignment_coverage"] == 1.0
    wide = {**env.env, "COLUMNS": "200"}
    table = runner.invoke(app, ["evaluate", str(env.extra)], env=wide)
    assert table.exit_code == 0, table.output
    assert NO_DEFAULT in table.stdout and "text_not_found 1" in table.stdout
    labeled = sum(len(d.entities) for d in read_labels(env.extra))
    assert f"entities aligned {labeled - 1}/{labeled}" in table.stdout
    assert "OCR word recall" in table.stdout
    missing = runner.invoke(app, ["evaluate", str(env.no_splits), "--split", "test"], env=env.env)
    assert missing.exit_code == 1 and "has no splits.json" in missing.output
    empty = {**env.env, "SELFIMPROVE_HOME": str(env.settings.home.parent / "empty-home")}
    nothing = runner.invoke(app, ["evaluate", str(env.corpus), "--split", "test"], env=empty)
    assert nothing.exit_code == 1 and "no default model of any type" in nothing.output

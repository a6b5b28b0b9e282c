"""Bring your own OCR, end to end: a corpus whose words.jsonl gives every page's words is
ingested without reading a page (its files are blank images, so OCR would find nothing), the
words reach the training examples and `evaluate` exactly as given, and each document with bad
words is quarantined with one error naming it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from mlflow import MlflowClient
from PIL import Image

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS, QUARANTINE_FILE
from selfimprove_assets.lib.deployment import deploy_version
from selfimprove_assets.lib.documents.given_words import WORDS_FILE
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.evaluation.corpus_eval import evaluate_folder, load_folder
from selfimprove_assets.lib.feedback.live import default_versions
from selfimprove_assets.lib.models.dataset import read_dataset
from selfimprove_assets.lib.models.registry import ModelRegistry
from selfimprove_assets.lib.models.tiny import tiny_backbone_for
from selfimprove_assets.lib.models.training import TrainConfig, train
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState, TrainingExample
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus

BOX = [100, 100, 200, 130]
BAD = {
    "bad-page": {"page": 3, "words": [{"text": "late", "bbox": BOX}]},
    "bad-text": {"page": 0, "words": [{"text": "ok", "bbox": BOX}, {"text": "  ", "bbox": BOX}]},
    "bad-box": {"page": 0, "words": [{"text": "far", "bbox": [0, 0, 1500, 40]}]},
}
BAD_REASONS = {
    "bad-page": "words for page 3 but the file has 1 page(s)",
    "bad-text": "page 0, word 1: 'text' must be a non-empty string",
    "bad-box": "'bbox' must be [x0, y0, x1, y1] within 0-1000",
    "bad-json": "not valid JSON",
}


def _entities(example: TrainingExample) -> list[dict[str, Any]]:
    """The labeled entities of a tagged example: one per B- run, with its words' text (no box:
    a value wrapping onto the next row would get a box over both rows)."""
    spans: list[list[int]] = []
    for i, tag in enumerate(example.word_tags):
        if tag.startswith("B-"):
            spans.append([i])
        elif tag.startswith("I-") and spans:
            spans[-1].append(i)
    return [
        {
            "label": example.word_tags[s[0]][2:],
            "text": " ".join(example.words[i] for i in s),
            "page": 0,
        }
        for s in spans
    ]


@dataclass
class Corpus:
    folder: Path
    examples: dict[str, TrainingExample]  # the good documents, as their words were given
    settings: Settings


def _blank_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (300, 400), 255).save(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("given-words")
    folder = root / "corpus"
    examples = {e.document_id: e for e in make_corpus(n_per_type=4, seed=5)}
    labels, words = [], []
    for doc_id, example in examples.items():
        _blank_png(folder / "files" / f"{doc_id}.png")
        labels.append(
            {
                "document_id": doc_id,
                "file": f"files/{doc_id}.png",
                "doc_type": example.doc_type,
                "entities": _entities(example),
            }
        )
        pairs = zip(example.words, example.boxes, strict=True)
        given = [{"text": w, "bbox": list(b)} for w, b in pairs]
        words.append(json.dumps({"document_id": doc_id, "page": 0, "words": given}))
    for doc_id, record in [*BAD.items(), ("bad-json", None)]:
        _blank_png(folder / "files" / f"{doc_id}.png")
        labels.append({"document_id": doc_id, "file": f"files/{doc_id}.png", "doc_type": "invoice"})
        if record is not None:
            words.append(json.dumps({"document_id": doc_id} | record))
    words.append('{"document_id": "bad-json", "page": 0, "words": [{"text": "x", "bbox": [1,')
    words.append(json.dumps({"document_id": "not-labeled", "page": 0, "words": []}))
    (folder / "labels.jsonl").write_text("\n".join(map(json.dumps, labels)) + "\n", "utf-8")
    (folder / WORDS_FILE).write_text("\n".join(words) + "\n", "utf-8")
    settings = load_settings({"SELFIMPROVE_HOME": str(root / "home")})
    settings.ensure_dirs()
    return Corpus(folder, examples, settings)


@pytest.fixture(scope="module")
def ingested(corpus: Corpus) -> dg.ExecuteInProcessResult:
    job = build_definitions(corpus.settings).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
        run_config={"ops": {"source_documents": {"config": {"corpus_dir": str(corpus.folder)}}}},
    )
    assert result.success
    return result


def _same_words(got: TrainingExample, given: TrainingExample) -> None:
    assert got.words == given.words  # text and order as given (a blank image has no words)
    assert got.boxes == given.boxes and set(got.pages) == {0}


def test_ingest_uses_given_words_and_quarantines_each_bad_document_once(
    corpus: Corpus, ingested: dg.ExecuteInProcessResult
) -> None:
    pages = ingested.output_for_node("document_pages")
    assert set(pages["hashes"]) == set(corpus.examples)
    store = PageStore(corpus.settings.pages_dir)
    assert {store.source_of(h) for h in pages["hashes"].values()} == {"given"}
    rows = [r for r in pages["quarantined"] if r["stage"] == "words"]
    by_id = {r["document_id"]: r["reason"] for r in rows}
    assert len(rows) == len(by_id) == 5  # one row per document
    assert set(by_id) == set(BAD_REASONS) | {"not-labeled"}
    for doc_id, reason in BAD_REASONS.items():
        assert reason in by_id[doc_id] and f"document {doc_id!r}" in by_id[doc_id]
    assert "'not-labeled' is not in labels.jsonl" in by_id["not-labeled"]
    written = (corpus.settings.home / Path(*QUARANTINE_FILE)).read_text("utf-8").splitlines()
    assert {json.loads(line)["document_id"] for line in written} == set(by_id)

    golden = read_dataset(ingested.output_for_node("corpus_splits", "golden_test_set"))
    training = read_dataset(ingested.output_for_node("corpus_splits", "initial_training_set"))
    assert {e.document_id for e in golden + training} == set(corpus.examples)
    for example in golden + training:
        given = corpus.examples[example.document_id]
        _same_words(example, given)
        assert example.word_tags == given.word_tags  # every label aligned on the given words


def test_given_words_reach_training_and_evaluation_unchanged(
    corpus: Corpus, ingested: dg.ExecuteInProcessResult
) -> None:
    settings = corpus.settings
    training = read_dataset(ingested.output_for_node("corpus_splits", "initial_training_set"))
    backbone = tiny_backbone_for([corpus.folder], settings.home / "tiny-backbone")
    vocabulary = (backbone / "vocab.txt").read_text("utf-8").split()
    assert {"patient", "dated", "12.50"} <= set(vocabulary)  # from the given words
    config = TrainConfig(
        epochs=3, learning_rate=1e-2, batch_size=8, max_length=64, stride=16, progress=False
    )
    result = train("extractor", training, backbone=str(backbone), config=config)
    registry = ModelRegistry(
        settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
    )
    run_id = registry.start_run("extractor")
    version = registry.register_bundle(run_id, result.bundle).version
    registry.end_run(run_id)
    store = FeedbackStore(settings.database_url)
    try:
        deploy_version(
            store,
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
        defaults = default_versions(store)
    finally:
        store.dispose()

    loaded = load_folder(settings, corpus.folder)
    assert {e.document_id for e in loaded.examples} == set(corpus.examples)
    for example in loaded.examples:
        _same_words(example, corpus.examples[example.document_id])
    report = evaluate_folder(settings, corpus.folder, defaults=defaults)
    assert report["documents"] == len(corpus.examples)
    rejected = report["rejected"]
    assert len(rejected) == 5
    for doc_id, reason in BAD_REASONS.items():
        assert sum(f"document {doc_id!r}" in r for r in rejected) == 1
        assert any(reason in r for r in rejected)
    labeled = sum(len(_entities(e)) for e in corpus.examples.values())
    micro = report["reports"]["extractor"]["report"]["micro"]
    assert report["coverage"]["entities_aligned"] == labeled == micro["support"]
    assert micro["true_positives"] > 0  # predicted on the given words

"""The documents group materialized for real: files → pages → corpus → fixed splits."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.models.dataset import read_dataset
from selfimprove_assets.lib.settings import load_settings


def _rename(folder: Path) -> None:
    """Give the corpus types and labels no code has seen, and add a broken file."""
    lines = (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record["doc_type"] = "zz_" + record["doc_type"]
        for entity in record["entities"]:
            entity["label"] = "custom_" + entity["label"]
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    records.append(
        {"document_id": "broken", "file": "broken.pdf", "doc_type": "zz_x", "entities": []}
    )
    (folder / "labels.jsonl").write_text(
        "\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8"
    )
    ids = [r["document_id"] for r in records if r["document_id"] != "broken"]
    (folder / "splits.json").write_text(json.dumps({"train": ids[:-3], "test": ids[-3:]}))


def test_documents_group_with_unseen_types_and_labels(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, n=12, seed=3, scenario="baseline", scan_share=0.0)
    _rename(corpus)
    settings = load_settings({"SELFIMPROVE_HOME": str(tmp_path / "home")})
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
        run_config={"ops": {"source_documents": {"config": {"corpus_dir": str(corpus)}}}},
    )
    assert result.success
    pages = result.output_for_node("document_pages")
    assert [r["document_id"] for r in pages["rejected"]] == ["broken"]
    assert len(pages["hashes"]) == 12
    golden = read_dataset(result.output_for_node("corpus_splits", "golden_test_set"))
    train = read_dataset(result.output_for_node("corpus_splits", "initial_training_set"))
    assert len(golden) == 3 and len(train) == 9  # splits.json honoured
    assert all(e.doc_type.startswith("zz_") for e in golden + train)
    tags = {t for e in train for t in e.word_tags if t != "O"}
    assert tags and all(t[2:].startswith("custom_") for t in tags)
    mats = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e  # type: ignore[union-attr]
        for e in result.get_asset_materialization_events()
    }
    meta = mats["labeled_corpus"].event_specific_data.materialization.metadata  # type: ignore[union-attr]
    assert meta["alignment_rate"].value >= 0.95  # type: ignore[union-attr]
    # the labels as written travel with the examples: the truth every score counts against
    labels = {d.document_id: d.entities for d in read_labels(corpus)}
    assert all(e.entities == labels[e.document_id] for e in golden + train)
    assert meta["ocr_word_recall"].value == 1.0  # type: ignore[union-attr]  # text PDFs only
    coverage = str(meta["alignment_by_label"].value)  # type: ignore[union-attr]
    assert all(
        f"| {label} |" in coverage
        for e in golden + train
        for label in {x.label for x in e.entities or []}
    )

"""The FUNSD corpus of ``bench_real``: FUNSD's records and split as it lies, a fixed order of
its training forms (size N takes the first N, so sizes are nested), and corpus folders of
symlinks into it (never copies), with ``labels.jsonl`` and ``splits.json``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SAMPLE_SEED = 0
# FUNSD lies in the shared datasets folder beside the checkout (``--funsd`` overrides it)
DEFAULT_FUNSD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "funsd"


def read_funsd(funsd: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """FUNSD's records by document id, and its train/test split."""
    records = {}
    with (funsd / "labels.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                records[record["document_id"]] = record
    splits = json.loads((funsd / "splits.json").read_text(encoding="utf-8"))
    return records, {"train": list(splits["train"]), "test": list(splits["test"])}


def training_order(train_ids: list[str]) -> list[str]:
    """A fixed shuffled order of the training forms: size N takes the first N (nested sizes)."""
    order = sorted(train_ids)
    random.Random(SAMPLE_SEED).shuffle(order)
    return order


def read_words(funsd: Path) -> dict[str, list[dict[str, Any]]]:
    """FUNSD's own words (``words.jsonl``): each document's page records, as given."""
    pages: dict[str, list[dict[str, Any]]] = {}
    with (funsd / "words.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                pages.setdefault(record["document_id"], []).append(record)
    return pages


def build_corpus(
    funsd: Path,
    records: dict[str, dict[str, Any]],
    train: list[str],
    test: list[str],
    out: Path,
    words: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    """A corpus folder of symlinks into FUNSD, with labels.jsonl and splits.json; with
    ``words`` (``read_words``) also a ``words.jsonl`` of the corpus' documents, so that
    ingestion takes FUNSD's own words instead of our OCR (the gold-word protocol)."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for doc_id in [*train, *test]:
        record = dict(records[doc_id])
        link = out / record["file"]
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to((funsd / record["file"]).resolve())
        lines.append(json.dumps(record))
    (out / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = {"train": list(train), "test": list(test)}
    (out / "splits.json").write_text(json.dumps(splits), encoding="utf-8")
    if words is not None:
        pages = [json.dumps(page) for doc_id in [*train, *test] for page in words.get(doc_id, [])]
        (out / "words.jsonl").write_text("\n".join(pages) + "\n", encoding="utf-8")
    return out

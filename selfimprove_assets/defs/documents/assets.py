"""The document side of the graph: labeled files → pages of words → corpus → fixed splits."""

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.resources import SelfimproveHome
from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.schema import derived_config, overridden
from selfimprove_assets.lib.defaults import CorpusSettings
from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.corpus import split_corpus, to_training_example
from selfimprove_assets.lib.documents.corpus_pages import CorpusPages
from selfimprove_assets.lib.documents.given_words import GivenWordsError
from selfimprove_assets.lib.documents.labels import scan_labels
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.evaluation.coverage import CoverageTally
from selfimprove_assets.lib.models.dataset import read_dataset, write_dataset
from selfimprove_assets.lib.types import Entity

GROUP = "documents"
# Every asset of this group, in lineage order: what ingestion materializes.
DOCUMENT_ASSET_KEYS = (
    "source_documents",
    "document_pages",
    "labeled_corpus",
    "golden_test_set",
    "initial_training_set",
)
# Documents ingestion set aside, one JSON object each (under SELFIMPROVE_HOME).
QUARANTINE_FILE = ("corpus_build", "quarantine.jsonl")


class CorpusConfig(dg.Config):
    corpus_dir: str = Field(
        default="",
        description="Folder with the files and labels.jsonl. Empty means SELFIMPROVE_HOME/corpus.",
    )


if TYPE_CHECKING:
    SplitConfig = dg.Config
else:  # the [corpus] section's fields, unset: the settings in effect (the rules resource)
    SplitConfig = derived_config("SplitConfig", CorpusSettings, "launchpad", name="corpus")


def _md_table(rows: list[dict[str, Any]], limit: int = 20) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("_empty_")
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(str(row[k]).replace("|", "\\|") for k in keys) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows_")
    return dg.MetadataValue.md("\n".join(lines))


def _counts_md(counter: Counter[str], what: str) -> dg.MetadataValue:
    return _md_table([{what: k, "count": v} for k, v in sorted(counter.items())], limit=100)


def _write_quarantine(home: SelfimproveHome, rows: list[dict[str, Any]]) -> Path:
    """Replace the quarantine list (one JSON object per set-aside document) atomically."""
    path = home.path(*QUARANTINE_FILE)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    tmp.replace(path)
    return path


def _reasons_line(rows: list[dict[str, Any]], limit: int = 3) -> str:
    shown = "; ".join(str(r["reason"]) for r in rows[:limit])
    return shown + (f"; ... and {len(rows) - limit} more" if len(rows) > limit else "")


@dg.asset(group_name=GROUP, kinds={"python", "file"})
def source_documents(
    context: dg.AssetExecutionContext, config: CorpusConfig, home: SelfimproveHome
) -> dict[str, Any]:
    """The labeled documents of the corpus folder, as its labels.jsonl describes them.

    A record with a problem (bad JSON or field, a missing file, a box far off the page) is
    quarantined, listed with its reason in the metadata and in corpus_build/quarantine.jsonl;
    the rest go on. Only a missing labels file, or no usable record at all, fails the asset.
    """
    folder = Path(config.corpus_dir or home.corpus_dir)
    scan = scan_labels(folder)
    quarantined = [p.to_dict() | {"stage": "labels"} for p in scan.problems]
    quarantine_path = _write_quarantine(home, quarantined)
    for row in quarantined:
        context.log.warning("quarantined: %s", row["reason"])
    for warning in scan.warnings[:10]:
        context.log.warning("%s", warning)
    if len(scan.warnings) > 10:
        context.log.warning("... and %d more boxes clamped onto the page", len(scan.warnings) - 10)
    if not scan.documents:
        raise dg.Failure(
            f"no usable document in {scan.path}"
            + (
                f": {len(quarantined)} quarantined ({_reasons_line(quarantined)}); "
                f"the list is in {quarantine_path}"
                if quarantined
                else ""
            )
        )
    documents = scan.documents
    types = Counter(d.doc_type for d in documents)
    labels = Counter(e.label for d in documents for e in d.entities)
    context.add_output_metadata(
        {
            "folder": str(folder),
            "documents": len(documents),
            "quarantined": len(quarantined),
            "quarantined_records": _md_table(
                [{k: r[k] for k in ("line", "document_id", "file", "reason")} for r in quarantined],
                limit=100,
            ),
            "quarantine_file": str(quarantine_path),
            "boxes_clamped": len(scan.warnings),
            "doc_types": _counts_md(types, "doc_type"),
            "entity_labels": _counts_md(labels, "label"),
            "preview": _md_table(
                [
                    {"document_id": d.document_id, "file": d.file.name, "doc_type": d.doc_type}
                    for d in documents
                ]
            ),
        }
    )
    return {
        "folder": str(folder),
        "documents": [
            {
                "document_id": d.document_id,
                "file": str(d.file),
                "doc_type": d.doc_type,
                "entities": [e.to_dict() for e in d.entities],
            }
            for d in documents
        ],
        "quarantined": quarantined,
    }


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def document_pages(
    context: dg.AssetExecutionContext, source_documents: dict[str, Any], home: SelfimproveHome
) -> dict[str, Any]:
    """Words with boxes for every page (text layer, or Tesseract OCR), cached by content hash;
    the folder's given words (words.jsonl) instead, for the pages it gives.

    A file that cannot be read (corrupt, unsupported), or a document whose given words are bad
    (an unknown page, empty text, a box far off the page, a broken line), is quarantined like
    a bad labels record, with one reason per document, and the others go on; so is a
    words.jsonl line for no labeled document. The asset fails only when no document could be
    read.
    """
    store = PageStore(home.pages_dir)
    hashes: dict[str, str] = {}
    rejected: list[dict[str, str]] = []
    pages = ocr_pages = cache_hits = given_documents = 0
    started = time.perf_counter()
    docs = source_documents["documents"]
    earlier = list(source_documents.get("quarantined", []))
    corpus_pages = CorpusPages.open(
        store,
        Path(source_documents["folder"]),
        [d["document_id"] for d in docs] + [r["document_id"] for r in earlier if r["document_id"]],
    )
    stages: dict[str, str] = {}
    for i, doc in enumerate(docs, start=1):
        try:
            digest, page_words, hit = corpus_pages.pages_of(doc["document_id"], Path(doc["file"]))
        except Exception as exc:  # one bad file never stops the batch
            if isinstance(exc, GivenWordsError):
                reason, stages[doc["document_id"]] = str(exc), "words"
            else:
                reason = f"{doc['file']}: cannot extract pages ({type(exc).__name__}: {exc})"
            rejected.append({"document_id": doc["document_id"], "reason": reason})
            context.log.warning("quarantined %s: %s", doc["document_id"], reason)
            continue
        hashes[doc["document_id"]] = digest
        pages += page_words.page_count
        ocr_pages += len(page_words.ocr_pages)
        cache_hits += int(hit)
        given_documents += int(corpus_pages.is_given(doc["document_id"]))
        if i % 25 == 0 or i == len(docs):
            context.log.info("extracted %d/%d documents", i, len(docs))
    elapsed = time.perf_counter() - started
    by_id = {d["document_id"]: d for d in docs}
    orphans = [p.to_dict() | {"stage": "words"} for p in corpus_pages.orphans]
    for row in orphans:
        context.log.warning("quarantined: %s", row["reason"])
    quarantined = (
        earlier
        + [
            {
                "line": None,
                "document_id": r["document_id"],
                "file": by_id[r["document_id"]]["file"],
                "reason": r["reason"],
                "stage": stages.get(r["document_id"], "pages"),
            }
            for r in rejected
        ]
        + orphans
    )
    quarantine_path = _write_quarantine(home, quarantined)
    if docs and not hashes:
        raise dg.Failure(
            f"no document of {source_documents['folder']} could be read: {len(rejected)} "
            f"quarantined ({_reasons_line(rejected)}); the list is in {quarantine_path}"
        )
    context.add_output_metadata(
        {
            "documents": len(hashes),
            "pages": pages,
            "ocr_pages": ocr_pages,
            "ocr_share": dg.MetadataValue.float(ocr_pages / pages if pages else 0.0),
            "given_words_documents": given_documents,
            "given_words_boxes_clamped": corpus_pages.words.clamped,
            "cache_hits": cache_hits,
            "rejected": len(rejected),
            "rejected_files": _md_table(rejected),
            "quarantined": len(quarantined),
            "quarantine_file": str(quarantine_path),
            "seconds": dg.MetadataValue.float(elapsed),
        }
    )
    return {"hashes": hashes, "rejected": rejected, "quarantined": quarantined}


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def labeled_corpus(
    context: dg.AssetExecutionContext,
    source_documents: dict[str, Any],
    document_pages: dict[str, Any],
    home: SelfimproveHome,
) -> str:
    """Every document as training input: words, boxes, one BIO tag per word, and the labeled
    entities as written (the truth scores count against, aligned to words or not)."""
    store = PageStore(home.pages_dir)
    examples = []
    unaligned: list[dict[str, Any]] = []
    tally = CoverageTally()
    for doc in source_documents["documents"]:
        digest = document_pages["hashes"].get(doc["document_id"])
        if digest is None:
            continue
        page_words = store.get(digest)
        if page_words is None:
            raise dg.Failure(f"pages of {doc['document_id']} vanished from the page store")
        entities = [Entity.from_dict(e) for e in doc["entities"]]
        alignment = align_entities(page_words.words, entities)
        tally.add(entities, page_words, alignment)
        reasons = alignment.reasons or [""] * len(alignment.unaligned)
        unaligned.extend(
            {"document_id": doc["document_id"], "label": e.label, "text": e.text, "reason": r}
            for e, r in zip(alignment.unaligned, reasons, strict=True)
        )
        example = to_training_example(
            doc["document_id"], doc["doc_type"], page_words, alignment.tags
        )
        example.entities = entities
        examples.append(example)
    if not examples:
        raise dg.Failure("the corpus has no usable document (all were rejected)")
    path = home.path("corpus_build", "labeled_corpus.parquet")
    digest = write_dataset(path, examples)
    quality = tally.to_dict()
    context.add_output_metadata(
        {
            "parquet": str(path),
            "content_hash": digest,
            "documents": len(examples),
            "entities_aligned": quality["entities_aligned"],
            "entities_unaligned": len(unaligned),
            "alignment_rate": dg.MetadataValue.float(quality["alignment_coverage"]),
            "alignment_by_label": _md_table(tally.rows(), limit=100),
            "ocr_word_recall": dg.MetadataValue.float(quality["ocr_word_recall"]),
            **(
                {
                    "ocr_word_recall_scanned": dg.MetadataValue.float(
                        quality["ocr_word_recall_scanned"]
                    )
                }
                if "ocr_word_recall_scanned" in quality
                else {}
            ),
            "labeled_words": quality["labeled_words"],
            "unaligned_entities": _md_table(unaligned),
        }
    )
    return str(path)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "golden_test_set": dg.AssetOut(
            kinds={"python", "parquet"},
            description="Held-out documents every model version is compared on. Fixed: the "
            "split is stratified, seeded, and honours splits.json when the corpus has one.",
        ),
        "initial_training_set": dg.AssetOut(
            kinds={"python", "parquet"}, description="The documents that train V1."
        ),
    },
)
def corpus_splits(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    labeled_corpus: str,
    source_documents: dict[str, Any],
    home: SelfimproveHome,
    rules: LoopRules,
):  # noqa: ANN201 - a multi-asset yields one Output per split
    split = overridden(rules.corpus_settings(), config)
    examples = read_dataset(labeled_corpus)
    splits_file = Path(source_documents["folder"]) / "splits.json"
    splits = json.loads(splits_file.read_text(encoding="utf-8")) if splits_file.exists() else None
    train_ids, test_ids = split_corpus(
        [e.document_id for e in examples],
        [e.doc_type for e in examples],
        test_fraction=split.test_fraction,
        seed=split.seed,
        splits=splits,
    )
    by_id = {e.document_id: e for e in examples}
    for name, ids in (("golden_test_set", test_ids), ("initial_training_set", train_ids)):
        subset = [by_id[i] for i in ids if i in by_id]
        path = home.path("corpus_build", f"{name}.parquet")
        digest = write_dataset(path, subset)
        types = Counter(e.doc_type for e in subset)
        tags = Counter(t[2:] for e in subset for t in e.word_tags if t.startswith("B-"))
        yield dg.Output(
            str(path),
            output_name=name,
            data_version=dg.DataVersion(digest[:16]),
            metadata={
                "parquet": str(path),
                "content_hash": digest,
                "documents": len(subset),
                "from_splits_json": splits is not None,
                "doc_types": _counts_md(types, "doc_type"),
                "entities": _counts_md(tags, "label"),
            },
        )
    context.log.info(
        "split %d documents: %d train, %d test", len(examples), len(train_ids), len(test_ids)
    )

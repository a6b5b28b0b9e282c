"""Data in and out: ``generate-corpus``, ``ingest``, ``evaluate``, ``import`` and ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from selfimprove_assets.cli.common import (
    check_corpus_folder,
    emit,
    materialization_summary,
    open_settings,
    open_store,
    out,
    summary_table,
    what_value_table,
)
from selfimprove_assets.cli.errors import console, fail, state
from selfimprove_assets.lib.types import MODEL_TYPES

# The interchange summaries' sample of skipped lines: printed one per line, not in the table.
SKIPPED = ("skipped_examples",)


def generate_corpus_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the corpus into.")],
    scenario: Annotated[str, typer.Option(help="Drift scenario name.")] = "baseline",
    n: Annotated[int, typer.Option("--n", min=1, help="Number of documents.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    scan_share: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.2,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write a synthetic healthcare intake corpus (PDFs, scans, labels.jsonl)."""
    from selfimprove_assets.lib.documents.synth import SCENARIOS, generate_corpus

    if scenario not in SCENARIOS:
        fail(f"unknown scenario {scenario!r}; choose one of: {', '.join(sorted(SCENARIOS))}")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir} exists and is not a folder")
    with console.status(f"generating {n} documents ({scenario})..."):
        summary = generate_corpus(out_dir, n=n, seed=seed, scenario=scenario, scan_share=scan_share)
    data = {k: str(v) if isinstance(v, Path) else v for k, v in vars(summary).items()}
    shown = {k: json.dumps(v, default=str) if isinstance(v, dict) else v for k, v in data.items()}
    emit(data, as_json, what_value_table(f"corpus in {out_dir}", shown))


def ingest(
    corpus_dir: Annotated[Path, typer.Argument(help="Folder with files and labels.jsonl.")],
    test_fraction: Annotated[
        float | None, typer.Option(min=0.05, max=0.9, help="Default: [corpus] test_fraction.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Default: [corpus] seed.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ingest a labeled corpus: extract pages, align labels, split golden and training sets."""
    check_corpus_folder(corpus_dir)
    from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS, QUARANTINE_FILE
    from selfimprove_assets.runner import materialize

    settings = open_settings()
    split = {k: v for k, v in (("test_fraction", test_fraction), ("seed", seed)) if v is not None}
    with console.status("ingesting (pages, OCR, alignment, splits)..."):
        result = materialize(
            settings,
            DOCUMENT_ASSET_KEYS,
            run_config={
                "ops": {
                    "source_documents": {"config": {"corpus_dir": str(corpus_dir.resolve())}},
                    "corpus_splits": {"config": split},
                }
            },
            verbose=state["verbose"],
        )
    summary = materialization_summary(result)
    quarantined: list[dict[str, Any]] = result.asset_value("document_pages").get("quarantined", [])
    emit(summary | {"quarantined": quarantined}, as_json, summary_table("ingested", summary))
    if quarantined and not as_json:
        table = Table(title=f"quarantined: {len(quarantined)} document(s) not ingested")
        for col in ("document_id", "file", "reason"):
            table.add_column(col, overflow="fold")
        for row in quarantined:
            table.add_row(
                *[escape(str(row.get(k) or "-")) for k in ("document_id", "file", "reason")]
            )
        out.print(table)
        out.print(f"quarantine list: {settings.home / Path(*QUARANTINE_FILE)}", soft_wrap=True)


def evaluate(
    corpus_dir: Annotated[Path, typer.Argument(help="A labeled folder (labels.jsonl).")],
    split: Annotated[
        str | None,
        typer.Option("--split", help="Score only this split of the folder's splits.json (test)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score the current default models on a labeled folder, against its labels as written.

    Every labeled entity counts (one the OCR or the alignment cannot find is a miss); alignment
    coverage and OCR word recall are reported beside the scores."""
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.evaluation.corpus_eval import evaluate_folder
    from selfimprove_assets.lib.feedback.live import default_versions

    settings = open_settings()
    store = open_store(settings)
    try:
        defaults = default_versions(store)
    finally:
        store.dispose()
    try:
        read_labels(corpus_dir)
        with console.status("scoring the default models..."):
            report = evaluate_folder(settings, corpus_dir, split=split, defaults=defaults)
    except ValueError as exc:  # corpus, split or missing-default problems: a clear message
        fail(str(exc))
        return
    table = Table(title=f"default models on {corpus_dir} ({report['split']})")
    for col in ("model", "version", "field", "precision", "recall", "f1 / acc", "n"):
        table.add_column(col)
    for row in report["rows"]:
        table.add_row(
            *[
                str(row[k])
                for k in ("model", "version", "field", "precision", "recall", "score", "n")
            ]
        )
    emit(report, as_json, table)
    if as_json:
        return
    coverage = report["coverage"]
    aligned = Table(title="alignment coverage (labeled entities placed on page words)")
    for col in ("label", "aligned", "total", "coverage", "unaligned"):
        aligned.add_column(col)
    for row in report["coverage_rows"]:
        aligned.add_row(
            *[str(row[k]) for k in ("label", "aligned", "total", "coverage", "unaligned")]
        )
    out.print(aligned)
    scanned = coverage.get("ocr_word_recall_scanned")
    out.print(
        f"documents {report['documents']} of {report['labeled_documents']}"
        f" (rejected {len(report['rejected'])}); entities aligned "
        f"{coverage['entities_aligned']}/{coverage['entities_total']} "
        f"({coverage['alignment_coverage']:.3f}); OCR word recall "
        f"{coverage['ocr_word_recall']:.3f} of {coverage['labeled_words']} labeled words"
        + (
            f" ({scanned:.3f} on {coverage['scanned_documents']} scanned)"
            if scanned is not None
            else ""
        )
    )
    for line in report["rejected"]:
        out.print(f"rejected: {line}")


def import_cmd(
    src: Annotated[
        Path,
        typer.Argument(
            help="The export to convert (file or folder; for hocr a labeled folder with one "
            ".hocr beside each document's file)."
        ),
    ],
    out_dir: Annotated[Path, typer.Argument(help="New labeled folder (labels.jsonl + files/).")],
    source_format: Annotated[
        str, typer.Option("--from", help="label-studio, funsd, sroie or hocr")
    ] = "label-studio",
    doc_type: Annotated[
        str | None, typer.Option(help="Type for documents the source gives none.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Convert labels made elsewhere into the labeled-corpus contract (then `ingest OUT`)."""
    from selfimprove_assets.lib.interchange.common import InterchangeError
    from selfimprove_assets.lib.interchange.importers import run_import

    try:
        with console.status(f"importing {src} ({source_format})..."):
            summary = run_import(source_format, src, out_dir, doc_type=doc_type)
    except InterchangeError as exc:
        fail(str(exc))
        return
    data = summary.to_dict()
    for line in summary.skipped[:20]:
        console.print(f"[yellow]skipped:[/] {line}")
    emit(data, as_json, what_value_table(f"imported into {out_dir}", data, skip=SKIPPED))


def export_cmd(
    out_dir: Annotated[Path, typer.Argument(help="New folder for the export.")],
    since: Annotated[
        str | None, typer.Option(help="Only documents committed at or after (ISO date/time, UTC).")
    ] = None,
    model_type: Annotated[
        str | None, typer.Option(help="Only documents whose classifier/extractor review is final.")
    ] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="labels-jsonl (re-ingestable) or label-studio")
    ] = "labels-jsonl",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Committed documents with their verified types and entities (and boxes), and the words
    they were reviewed on (words.jsonl), so `ingest OUT` reads them back without OCR."""
    from datetime import UTC, datetime

    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.interchange.common import InterchangeError
    from selfimprove_assets.lib.interchange.export import export
    from selfimprove_assets.lib.store.repository import FeedbackStore

    if model_type is not None and model_type not in MODEL_TYPES:
        fail(f"unknown model type {model_type!r}; choose classifier or extractor")
    after = None
    if since is not None:
        try:
            after = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since {since!r} is not an ISO date or date-time (e.g. 2026-12-01)")
            return
        after = after.replace(tzinfo=UTC) if after.tzinfo is None else after.astimezone(UTC)
    settings = open_settings()
    store = FeedbackStore(settings.database_url)
    try:
        with console.status(f"exporting committed documents to {out_dir}..."):
            summary = export(
                store,
                out_dir,
                since=after,
                model_type=model_type,
                format=export_format,
                pages=PageStore(settings.pages_dir),
            )
    except InterchangeError as exc:
        fail(str(exc))
        return
    finally:
        store.dispose()
    data = summary.to_dict()
    for line in summary.skipped[:20]:
        console.print(f"[yellow]skipped:[/] {line}")
    emit(data, as_json, what_value_table(f"exported to {out_dir}", data, skip=SKIPPED))

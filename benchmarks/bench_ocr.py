"""OCR quality: word recall against labeled text, alignment coverage and seconds per page.

Runs each OCR configuration over FUNSD (real ~100 dpi scanned forms) and over two small
generated corpora of 200-dpi scans (``synth-scans``: the baseline scenario, as bench_pages.py
makes them; ``synth-noisy``: the scanner_noise scenario, blurred and speckled), and prints one
row per (corpus, configuration):

- words: OCR words found;
- word recall: labeled entity tokens found among the OCR words (``word_recall``);
- align: share of labeled entities that ``align_entities`` matches to words;
- text: share of entities found by their exact text alone (bench_pages.py's "entity-text
  recall");
- s/page: mean wall seconds of one page's extraction inside a worker (one core each);
- cpu/page: CPU seconds of that extraction, Tesseract included: what one free core would take,
  whatever else the machine is doing.

Usage:
  python benchmarks/bench_ocr.py [--funsd DIR] [--limit N] [--configs a,b] [--synthetic N]
                                 [--workers 2] [--words-out FILE]
Writes benchmarks/results/bench_ocr.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from funsd_corpus import DEFAULT_FUNSD

from selfimprove_assets.lib.documents.alignment import align_entities, alignment_summary
from selfimprove_assets.lib.documents.labels import LabeledDocument, read_labels
from selfimprove_assets.lib.documents.ocr import OcrSettings
from selfimprove_assets.lib.documents.ocr_quality import recall_ratio, word_recall
from selfimprove_assets.lib.documents.pages import extract_pages
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.types import Entity, Word

RESULTS = Path(__file__).resolve().parent / "results" / "bench_ocr.json"

CONFIGS: dict[str, OcrSettings] = {
    # the page as scanned, words under 30 dropped: the behaviour before upscaling
    "as-is": OcrSettings(min_dpi=0, min_confidence=30),
    "as-is-raw": OcrSettings(min_dpi=0, min_confidence=30, despeckle=False),  # no speckle filter
    "default": OcrSettings(),
    "up300-conf30": OcrSettings(min_confidence=30),
    "up300-conf10": OcrSettings(min_confidence=10),
    "up200": OcrSettings(target_dpi=200),
    "up400": OcrSettings(target_dpi=400),
    "up300-psm11": OcrSettings(psm=11),
    "up300-psm12": OcrSettings(psm=12),
    "up300-psm6": OcrSettings(psm=6),
}


@dataclass
class PageResult:
    words: list[Word]
    pages: int
    seconds: float
    cpu_seconds: float


def _cpu_now() -> float:
    """CPU seconds of this process and of its finished children (the Tesseract runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _extract(path: Path, settings: OcrSettings) -> PageResult:
    started, cpu = time.perf_counter(), _cpu_now()
    pages = extract_pages(path, ocr_settings=settings)
    return PageResult(
        pages.words, pages.page_count, time.perf_counter() - started, _cpu_now() - cpu
    )


def _tesseract_version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


def measure(
    docs: Sequence[LabeledDocument], settings: OcrSettings, pool: ProcessPoolExecutor
) -> tuple[dict[str, Any], list[PageResult]]:
    """OCR ``docs`` with ``settings`` in ``pool``; return the summary row and the words."""
    started = time.perf_counter()
    results = list(pool.map(_extract, [d.file for d in docs], [settings] * len(docs)))
    wall = time.perf_counter() - started
    matched = total = 0
    alignments = []
    text_found = 0
    per_doc = []
    for doc, result in zip(docs, results, strict=True):
        m, t = word_recall([e.text for e in doc.entities], result.words)
        matched, total = matched + m, total + t
        alignment = align_entities(result.words, doc.entities)
        alignments.append(alignment)
        text_only = [Entity(e.label, e.text, e.page) for e in doc.entities]
        text_found += len(text_only) - len(align_entities(result.words, text_only, 1.0).unaligned)
        per_doc.append(
            {
                "document_id": doc.document_id,
                "words": len(result.words),
                "word_recall": round(recall_ratio(m, t), 4),
                "alignment": round(
                    recall_ratio(len(doc.entities) - len(alignment.unaligned), len(doc.entities)),
                    4,
                ),
                "seconds": round(result.seconds, 3),
                "cpu_seconds": round(result.cpu_seconds, 3),
            }
        )
    entities = sum(len(d.entities) for d in docs)
    aligned = entities - sum(len(a.unaligned) for a in alignments)
    pages = sum(r.pages for r in results)
    row = {
        "docs": len(docs),
        "pages": pages,
        "words": sum(len(r.words) for r in results),
        "labeled_tokens": total,
        "matched_tokens": matched,
        "word_recall": round(recall_ratio(matched, total), 4),
        "entities": entities,
        "aligned_entities": aligned,
        "alignment_coverage": round(recall_ratio(aligned, entities), 4),
        "entity_text_recall": round(recall_ratio(text_found, entities), 4),
        "s_per_page": round(sum(r.seconds for r in results) / max(1, pages), 3),
        "cpu_s_per_page": round(sum(r.cpu_seconds for r in results) / max(1, pages), 3),
        "wall_s": round(wall, 2),
        "alignment_by_label": alignment_summary(alignments),
        "per_document": per_doc,
    }
    return row, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--funsd", type=Path, default=DEFAULT_FUNSD, help="FUNSD corpus folder")
    parser.add_argument("--limit", type=int, default=0, help="first N FUNSD documents (0: all)")
    parser.add_argument("--configs", default="as-is,default", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument(
        "--synthetic", type=int, default=12, help="generated scans per scenario (0: none)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes in the OCR pool")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument("--words-out", type=Path, help="also dump FUNSD words per config (JSON)")
    args = parser.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")

    corpora: dict[str, list[LabeledDocument]] = {}
    if args.funsd.exists():
        funsd = sorted(read_labels(args.funsd), key=lambda d: d.document_id)
        corpora["funsd"] = funsd[: args.limit] if args.limit else funsd
    rows: list[dict[str, Any]] = []
    dumped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool,
    ):
        if args.synthetic:  # 200-dpi scans as bench_pages.py makes them, and noisier ones
            for name, scenario, seed in (
                ("synth-scans", "baseline", 2),
                ("synth-noisy", "scanner_noise", 3),
            ):
                folder = Path(tmp) / name
                generate_corpus(
                    folder, n=args.synthetic, seed=seed, scenario=scenario, scan_share=1.0
                )
                corpora[name] = read_labels(folder)
        for corpus, docs in corpora.items():
            for name in names:
                row, results = measure(docs, CONFIGS[name], pool)
                rows.append({"corpus": corpus, "config": name, **row})
                if args.words_out and corpus == "funsd":
                    dumped[name] = {
                        d.document_id: [asdict(w) for w in r.words]
                        for d, r in zip(docs, results, strict=True)
                    }
                print(
                    f"{corpus:<16}{name:<15}{row['words']:>7}{row['word_recall']:>8.3f}"
                    f"{row['alignment_coverage']:>8.3f}{row['entity_text_recall']:>8.3f}"
                    f"{row['s_per_page']:>8.2f}{row['cpu_s_per_page']:>8.2f}",
                    flush=True,
                )

    header = f"{'corpus':<16}{'config':<15}{'words':>7}{'recall':>8}{'align':>8}{'text':>8}"
    print(f"\n{header}{'s/page':>8}{'cpu/page':>9}")
    for row in rows:
        print(
            f"{row['corpus']:<16}{row['config']:<15}{row['words']:>7}{row['word_recall']:>8.3f}"
            f"{row['alignment_coverage']:>8.3f}{row['entity_text_recall']:>8.3f}"
            f"{row['s_per_page']:>8.2f}{row['cpu_s_per_page']:>9.2f}"
        )
    print("recall: OCR word recall; align: entities aligned (box, then text);")
    print("text: entities found by exact text alone; s/page: wall seconds in a worker;")
    print("cpu/page: CPU seconds of the worker and its Tesseract runs (load-independent)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {
                    "limit": args.limit,
                    "configs": names,
                    "synthetic": args.synthetic,
                    "workers": args.workers,
                },
                "settings": {n: asdict(CONFIGS[n]) for n in names},
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "tesseract": _tesseract_version(),
                },
                "rows": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")
    if args.words_out:
        args.words_out.write_text(json.dumps(dumped), encoding="utf-8")


if __name__ == "__main__":
    main()

"""Page extraction throughput: text-layer pages/s and OCR pages/s, on a generated corpus.

Usage: python benchmarks/bench_pages.py [--quick] [--workers N]
Writes benchmarks/results/bench_pages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.documents.pages import extract_many, extract_pages
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.types import Entity

RESULTS = Path(__file__).resolve().parent / "results" / "bench_pages.json"


def _tesseract_version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small corpus, a few seconds")
    parser.add_argument("--workers", type=int, default=2, help="processes for the OCR pool")
    args = parser.parse_args()
    n_text, n_scan = (24, 4) if args.quick else (120, 12)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        text_summary = generate_corpus(Path(tmp) / "text", n=n_text, seed=1, scan_share=0.0)
        text_gen_s = time.perf_counter() - started
        started = time.perf_counter()
        scan_summary = generate_corpus(Path(tmp) / "scan", n=n_scan, seed=2, scan_share=1.0)
        scan_gen_s = time.perf_counter() - started
        text_docs = read_labels(Path(tmp) / "text")
        scan_docs = read_labels(Path(tmp) / "scan")

        started = time.perf_counter()
        text_pages = sum(extract_pages(d.file).page_count for d in text_docs)
        text_s = time.perf_counter() - started

        started = time.perf_counter()
        serial = [extract_pages(d.file) for d in scan_docs]
        ocr_serial_s = time.perf_counter() - started
        ocr_pages = sum(len(p.ocr_pages) for p in serial)

        started = time.perf_counter()
        pooled = extract_many([d.file for d in scan_docs], workers=args.workers)
        ocr_pool_s = time.perf_counter() - started
        assert all(r.ok for r in pooled), [str(r.error) for r in pooled if not r.ok]

        found = total = 0
        for doc, pages in zip(scan_docs, serial, strict=True):
            text_only = [Entity(e.label, e.text, e.page) for e in doc.entities]
            total += len(text_only)
            found += len(text_only) - len(align_entities(pages.words, text_only, 1.0).unaligned)

    rows = [
        ("generate text PDFs", n_text, text_gen_s, n_text / text_gen_s, "docs/s"),
        ("generate scans", n_scan, scan_gen_s, n_scan / scan_gen_s, "docs/s"),
        ("text-layer extraction", text_pages, text_s, text_pages / text_s, "pages/s"),
        ("OCR, 1 process", ocr_pages, ocr_serial_s, ocr_pages / ocr_serial_s, "pages/s"),
        (f"OCR, pool of {args.workers}", ocr_pages, ocr_pool_s, ocr_pages / ocr_pool_s, "pages/s"),
    ]
    print(f"{'measure':<24}{'items':>8}{'seconds':>10}{'rate':>12}  unit")
    for name, items, seconds, rate, unit in rows:
        print(f"{name:<24}{items:>8}{seconds:>10.2f}{rate:>12.2f}  {unit}")
    recall = found / total if total else 0.0
    print(f"OCR entity-text recall: {found}/{total} = {recall:.3f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "tesseract": _tesseract_version(),
                },
                "rows": [
                    {
                        "measure": name,
                        "items": items,
                        "seconds": round(seconds, 3),
                        "rate": round(rate, 2),
                        "unit": unit,
                    }
                    for name, items, seconds, rate, unit in rows
                ],
                "text_pages_per_s": round(text_pages / text_s, 2),
                "ocr_pages_per_s_serial": round(ocr_pages / ocr_serial_s, 3),
                "ocr_pages_per_s_pool": round(ocr_pages / ocr_pool_s, 3),
                "ocr_entity_recall": {"found": found, "total": total, "recall": round(recall, 3)},
                "corpus": {"text_docs": text_summary.n, "scan_docs": scan_summary.n},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

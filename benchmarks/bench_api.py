"""Commit throughput of the feedback-capture path, and proof that nothing is lost or doubled.

Twenty concurrent clients commit reviewed documents, on SQLite and on PostgreSQL, three ways:

* ``store-batch``: threads call ``FeedbackStore.commit_documents`` with batches of documents;
* ``store-single``: the same with one document per call;
* ``http-single``: threads POST ``/v1/commits`` (one document per request, httpx) to the real
  API served by uvicorn in its own process on loopback.

Every document is committed *twice*, by two different clients in random order, so half of the
attempts race an earlier or concurrent commit of the same document. Afterwards each document
must be committed exactly once, and the store's counters must equal ``recount`` (the counters
recomputed from the feedback rows). Documents and reviews are seeded through the store (uploads
and their model inference are not what is measured here).

    python benchmarks/bench_api.py [--quick] [--docs N] [--clients 20] [--batch 10]
                                   [--backends sqlite,postgresql] [--modes store-batch,...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfimprove_assets.api.views import commit as commit_documents  # noqa: E402
from selfimprove_assets.lib.settings import Settings  # noqa: E402
from selfimprove_assets.lib.store.repository import FeedbackStore  # noqa: E402
from selfimprove_assets_tests.postgres_server import (  # noqa: E402
    create_database,
    postgres_server,
)

TOKEN = "bench-reviewer-token"
TYPES = ["invoice", "lab_report", "prescription"]
LABELS = ["patient_name", "total_amount", "date_of_service"]
RESULTS = ROOT / "benchmarks" / "results" / "bench_api.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(home: Path, url: str) -> Settings:
    return Settings(
        home=home,
        database_url=url,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        mlflow_artifact_root=str(home / "artifacts"),
        backbone="unused-by-this-benchmark",
        api_tokens=f"{TOKEN}:reviewer",
    )


def seed(store: FeedbackStore, n: int, seed_value: int) -> list[str]:
    """Documents with predictions and a review each (about 30% of them corrected)."""
    rng = random.Random(seed_value)
    ids = []
    for i in range(n):
        doc_type = rng.choice(TYPES)
        entities = [
            {
                "label": label,
                "text": f"{label}-{i}",
                "page": 0,
                "bbox": [100, 100 + 40 * k, 300, 120 + 40 * k],
                "confidence": 0.9,
            }
            for k, label in enumerate(LABELS)
        ]
        doc_id = store.documents.add_document(
            content_hash=uuid.uuid4().hex * 2,
            media_type="application/pdf",
            size_bytes=1000,
            page_count=1,
            pages_uri="bench",
            blob_uri="bench",
            predictions=[
                ("classifier", "1", {"doc_type": doc_type, "confidence": 0.9}),
                ("extractor", "1", {"entities": entities}),
            ],
        )
        verified_type = rng.choice(TYPES) if rng.random() < 0.3 else doc_type
        verified = [{k: e[k] for k in ("label", "text", "page", "bbox")} for e in entities]
        if rng.random() < 0.3:
            verified[0]["text"] += " fixed"
        if rng.random() < 0.2:
            verified.pop()
        store.commits.set_review(
            doc_id,
            verified={
                "classifier": {"doc_type": verified_type},
                "extractor": {"entities": verified},
            },
            reviewer="bench",
        )
        ids.append(doc_id)
    return ids


def _attempts(ids: list[str], batch: int, seed_value: int) -> list[list[str]]:
    """Each id twice, shuffled, cut into batches (a batch never holds the same id twice)."""
    rng = random.Random(seed_value)
    first, second = list(ids), list(ids)
    rng.shuffle(first)
    rng.shuffle(second)
    return [
        chunk
        for order in (first, second)
        for chunk in (order[i : i + batch] for i in range(0, len(order), batch))
    ]


def _run_clients(
    work: list[list[str]], clients: int, commit: Callable[[list[str]], int]
) -> tuple[float, list[float], int]:
    rng = random.Random(1)
    rng.shuffle(work)
    latencies: list[float] = []
    committed = 0
    lock = threading.Lock()

    def one(batch: list[str]) -> None:
        nonlocal committed
        started = time.perf_counter()
        n = commit(batch)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            committed += n

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, work))
    return time.perf_counter() - started, latencies, committed


def _serve(url: str, home: str, port: int) -> None:
    """Child process: the real API on loopback (uvicorn, one worker)."""
    import logging

    import uvicorn

    from selfimprove_assets.api.app import create_app

    logging.basicConfig(level=logging.WARNING)
    app = create_app(_settings(Path(home), url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def api_server(url: str, home: Path) -> Iterator[str]:
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(url, str(home), port), daemon=True
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.join(timeout=10)


def verify(store: FeedbackStore, ids: list[str], committed: int) -> dict[str, Any]:
    counters_ok = all(
        store.counters.live_counters(t, "1") == store.counters.recount(t, "1")
        for t in ("classifier", "extractor")
    )
    doc_type = store.counters.live_counters("classifier", "1").get("doc_type", {})
    return {
        "counters_equal_recount": counters_ok,
        "committed_once": committed == len(ids) and doc_type.get("committed") == len(ids),
        "classifier_committed": doc_type.get("committed", 0),
        "reported_committed": committed,
    }


def scenario(
    backend: str, url: str, home: Path, mode: str, n_docs: int, clients: int, batch: int
) -> dict[str, Any]:
    store = FeedbackStore(url)
    try:
        ids = seed(store, n_docs, seed_value=len(mode))
        size = batch if mode == "store-batch" else 1
        work = _attempts(ids, size, seed_value=7)
        load_before = os.getloadavg()[0]  # 1-minute average as the timed part starts
        if mode.startswith("store"):

            def commit(batch_ids: list[str]) -> int:
                # The API's commit path without HTTP: ids in one global order (the store locks
                # rows in the order given; overlapping batches in different orders deadlock on
                # PostgreSQL otherwise) and a retry of transactions the database aborted.
                return len(commit_documents(store, batch_ids, "bench").committed)

            seconds, latencies, committed = _run_clients(work, clients, commit)
        else:
            with api_server(url, home) as base:
                local = threading.local()

                def commit(batch_ids: list[str]) -> int:
                    client = getattr(local, "client", None)
                    if client is None:
                        client = local.client = httpx.Client(
                            base_url=base,
                            headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=60,
                        )
                    response = client.post("/v1/commits", json={"document_ids": batch_ids})
                    response.raise_for_status()
                    return int(response.json()["committed"])

                seconds, latencies, committed = _run_clients(work, clients, commit)
        checks = verify(store, ids, committed)
    finally:
        store.dispose()
    latencies.sort()
    return {
        "backend": backend,
        "mode": mode,
        "documents": n_docs,
        "attempts": sum(len(w) for w in work),
        "calls": len(work),
        "clients": clients,
        "batch": size,
        "seconds": round(seconds, 3),
        "documents_per_s": round(n_docs / seconds, 1),
        "calls_per_s": round(len(work) / seconds, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1),
        "latency_p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "load_before": round(load_before, 2),
        **checks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (about a minute)")
    parser.add_argument("--docs", type=int, default=None, help="documents per scenario")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10, help="documents per store-batch call")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--modes", default="store-batch,store-single,http-single", help="scenarios to run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n_docs = args.docs or (200 if args.quick else 1000)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = sorted(set(modes) - {"store-batch", "store-single", "http-single"})
    if bad:
        parser.error(f"--modes: unknown {bad}")
    rows: list[dict[str, Any]] = []
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        for backend in backends:
            if backend == "postgresql":
                with postgres_server() as admin_url:
                    for mode in modes:
                        home = root / f"pg-{mode}"
                        home.mkdir()
                        url = create_database(admin_url)
                        rows.append(
                            scenario(backend, url, home, mode, n_docs, args.clients, args.batch)
                        )
                        print_row(rows[-1])
            else:
                for mode in modes:
                    home = root / f"sqlite-{mode}"
                    home.mkdir()
                    url = f"sqlite:///{home / 'store.db'}"
                    rows.append(
                        scenario(backend, url, home, mode, n_docs, args.clients, args.batch)
                    )
                    print_row(rows[-1])
    print()
    print_table(rows)
    ok = all(r["counters_equal_recount"] and r["committed_once"] for r in rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "bench_api",
                "quick": args.quick,
                "clients": args.clients,
                "cpu_count": multiprocessing.cpu_count(),
                "loadavg_start": load_start,
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                "all_checks_passed": ok,
                "results": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {args.out}; nothing lost or doubled: {ok}")
    return 0 if ok else 1


COLUMNS = [
    ("backend", 10),
    ("mode", 13),
    ("documents", 9),
    ("calls", 6),
    ("seconds", 8),
    ("documents_per_s", 10),
    ("calls_per_s", 10),
    ("latency_p50_ms", 8),
    ("latency_p95_ms", 8),
    ("counters_equal_recount", 8),
    ("committed_once", 8),
]
HEADERS = {
    "documents_per_s": "docs/s",
    "calls_per_s": "calls/s",
    "latency_p50_ms": "p50 ms",
    "latency_p95_ms": "p95 ms",
    "counters_equal_recount": "recount",
    "committed_once": "once",
    "documents": "docs",
}


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['backend']:<10} {row['mode']:<13} {row['documents_per_s']:>8} docs/s "
        f"{row['calls_per_s']:>8} calls/s  checks: recount={row['counters_equal_recount']} "
        f"once={row['committed_once']}",
        flush=True,
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    print("  ".join(f"{HEADERS.get(k, k):>{w}}" for k, w in COLUMNS))
    for row in rows:
        print("  ".join(f"{str(row[k]):>{w}}" for k, w in COLUMNS))


if __name__ == "__main__":
    raise SystemExit(main())

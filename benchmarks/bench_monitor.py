"""Monitor and curation at production size: one sensor tick and one curation over 1M rows.

For each backend (SQLite file, PostgreSQL server) the store is filled with ``--rows`` committed
feedback rows for model version 1: ``rows / 2`` documents, each with a classifier row and an
extractor row (the shape ``add_document`` + ``commit_documents`` leave), plus counters that
agree with the rows, the commit batches (1,000 documents each) and a default model row per type.
The fill bypasses ``commit_documents`` (bulk executemany on SQLite, ``COPY`` on PostgreSQL);
PostgreSQL gets a ``VACUUM ANALYZE`` afterwards (what autovacuum does to a table that grew over
weeks), SQLite gets nothing (the store never runs ``ANALYZE``).

Then, each in its own process so that peak RSS belongs to that step:

* ``tick``: the real ``<type>_accuracy_sensor`` evaluated with ``build_sensor_context`` and a
  cursor one commit behind, against an ephemeral Dagster instance (median of 5 warm ticks; the
  retrain state is put back to IDLE between ticks so every tick takes the trigger path), plus
  the store calls it makes, timed one by one;
* ``curate-<type>``: ``curation_rows`` -> ``DataFrame`` -> ``curate_classifier`` /
  ``curate_extractor``, what the ``<type>_retraining_set`` asset does before it builds training
  examples, with the steps timed separately and the extractor's ``_underperforming`` labels.

    python benchmarks/bench_monitor.py [--quick] [--rows N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "bench_monitor.json"
VERSION = "1"
TYPES = ["invoice", "lab_report", "prescription", "referral", "insurance_claim"]
LABELS = ["patient_name", "date_of_service", "total_amount", "provider", "member_id", "address"]
THRESHOLDS = {
    "classifier": {"doc_type": 0.95},
    "extractor": {"*": 0.9, "patient_name": 0.95, "total_amount": 0.95},
}
DOCS_PER_COMMIT = 1000
CHUNK_DOCS = 5000  # 10k feedback rows per executemany
REVIEWERS = 20
OUTLIER_REVIEWER = "reviewer-19"  # corrects far more often: the quality check should flag it
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
TICKS = 5


# ------------------------------------------------------------------------------------ data


def _entity(label: str, i: int, variant: str, confidence: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {"label": label, "text": f"{label[:4]}-{i % 9973}{variant}", "page": 0}
    if confidence:
        entity["confidence"] = 0.9
    return entity


def generate(n_docs: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Documents with their two committed feedback rows and the counter deltas they bring."""
    rng = random.Random(seed)
    recent_hashes: list[str] = []
    for i in range(n_docs):
        commit_id = i // DOCS_PER_COMMIT + 1
        committed_at = BASE_TIME + timedelta(minutes=commit_id)
        reviewer = f"reviewer-{rng.randrange(REVIEWERS)}"
        outlier = reviewer == OUTLIER_REVIEWER
        # ~2% of documents are re-uploads of a recent one (same content hash): near-duplicates
        if recent_hashes and rng.random() < 0.02:
            content_hash = rng.choice(recent_hashes)
        else:
            content_hash = f"{rng.getrandbits(256):064x}"
            recent_hashes.append(content_hash)
            if len(recent_hashes) > 50:
                recent_hashes.pop(0)
        doc_id = f"{rng.getrandbits(128):032x}"

        predicted_type = rng.choice(TYPES)
        cls_corrected = rng.random() < (0.3 if outlier else 0.06)
        verified_type = (
            rng.choice([t for t in TYPES if t != predicted_type])
            if cls_corrected
            else predicted_type
        )
        cls_outcomes = {
            "doc_type": {"unchanged": int(not cls_corrected), "modified": int(cls_corrected)}
        }

        predicted_entities: list[dict[str, Any]] = []
        verified_entities: list[dict[str, Any]] = []
        ext_outcomes: dict[str, dict[str, int]] = {}
        for label in rng.sample(LABELS, rng.randint(3, 5)):
            r = rng.random()
            weak = label in ("patient_name", "total_amount")
            p_mod, p_add, p_rem = (0.06, 0.03, 0.02) if weak else (0.03, 0.015, 0.01)
            counts = {"unchanged": 0, "modified": 0, "added": 0, "removed": 0}
            if r < p_mod:
                counts["modified"] = 1
                predicted_entities.append(_entity(label, i, "x", True))
                verified_entities.append(_entity(label, i, "", False))
            elif r < p_mod + p_add:
                counts["added"] = 1
                verified_entities.append(_entity(label, i, "", False))
            elif r < p_mod + p_add + p_rem:
                counts["removed"] = 1
                predicted_entities.append(_entity(label, i, "", True))
            else:
                counts["unchanged"] = 1
                predicted_entities.append(_entity(label, i, "", True))
                verified_entities.append(_entity(label, i, "", False))
            ext_outcomes[label] = counts
        ext_corrected = any(
            c["modified"] + c["added"] + c["removed"] for c in ext_outcomes.values()
        )
        yield {
            "i": i,
            "doc_id": doc_id,
            "content_hash": content_hash,
            "commit_id": commit_id,
            "committed_at": committed_at,
            "reviewer": reviewer,
            "classifier": (
                {"doc_type": predicted_type, "confidence": 0.87},
                {"doc_type": verified_type},
                cls_corrected,
                cls_outcomes,
            ),
            "extractor": (
                {"entities": predicted_entities},
                {"entities": verified_entities},
                ext_corrected,
                ext_outcomes,
            ),
        }


def _rows_of(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plain column dicts for ``documents`` and ``feedback_data`` (JSON as Python objects)."""
    doc_rows, fb_rows = [], []
    for d in docs:
        created = d["committed_at"] - timedelta(hours=2)
        doc_rows.append(
            {
                "id": d["doc_id"],
                "content_hash": d["content_hash"],
                "external_id": None,
                "filename": f"scan-{d['i']}.pdf",
                "media_type": "application/pdf",
                "size_bytes": 52_000,
                "page_count": 1,
                "ocr_pages": [],
                "pages_uri": f"pages/{d['doc_id']}.json",
                "blob_uri": f"blobs/{d['doc_id']}.pdf",
                "source": "api",
                "created_at": created,
            }
        )
        for k, model_type in enumerate(("classifier", "extractor")):
            predicted, verified, corrected, outcomes = d[model_type]
            fb_rows.append(
                {
                    "id": 2 * d["i"] + k + 1,
                    "document_id": d["doc_id"],
                    "model_type": model_type,
                    "model_version": VERSION,
                    "predicted": predicted,
                    "verified": verified,
                    "reviewer": d["reviewer"],
                    "reviewed_at": d["committed_at"] - timedelta(minutes=1),
                    "committed_at": d["committed_at"],
                    "commit_id": d["commit_id"],
                    "corrected": corrected,
                    "field_outcomes": outcomes,
                    "retrained": False,
                    "retrain_cycle": None,
                    "created_at": created,
                }
            )
    return doc_rows, fb_rows


def _add_counters(counters: dict[tuple[str, str], dict[str, int]], d: dict[str, Any]) -> None:
    for model_type in ("classifier", "extractor"):
        for fld, counts in d[model_type][3].items():
            acc = counters.setdefault(
                (model_type, fld),
                {
                    "committed": 0,
                    "corrected": 0,
                    "unchanged": 0,
                    "modified": 0,
                    "added": 0,
                    "removed": 0,
                },
            )
            acc["committed"] += 1
            acc["corrected"] += int(
                counts.get("modified", 0) + counts.get("added", 0) + counts.get("removed", 0) > 0
            )
            for key in ("unchanged", "modified", "added", "removed"):
                acc[key] += int(counts.get(key, 0))


def populate(url: str, n_rows: int) -> dict[str, Any]:
    """Fill an empty store; returns timings and the reference counts."""
    from sqlalchemy import insert, text

    from selfimprove_assets.lib.store.models import CommitRow, CounterRow, DocumentRow, FeedbackRow
    from selfimprove_assets.lib.store.repository import FeedbackStore
    from selfimprove_assets.lib.types import RetrainState

    n_docs = n_rows // 2
    start = time.perf_counter()
    store = FeedbackStore(url)
    for model_type in ("classifier", "extractor"):
        store.register_version(
            model_type=model_type, version=VERSION, registry_name=f"doc-{model_type}"
        )
        store.set_default(
            model_type, VERSION, thresholds=THRESHOLDS[model_type], state=RetrainState.IDLE
        )
    counters: dict[tuple[str, str], dict[str, int]] = {}
    n_commits = (n_docs + DOCS_PER_COMMIT - 1) // DOCS_PER_COMMIT
    postgres = store.dialect == "postgresql"
    doc_cols = [c.name for c in DocumentRow.__table__.columns]
    fb_cols = [c.name for c in FeedbackRow.__table__.columns]
    chunk: list[dict[str, Any]] = []

    def flush(conn: Any) -> None:
        doc_rows, fb_rows = _rows_of(chunk)
        if postgres:
            cur = conn.cursor()
            with cur.copy(f"COPY documents ({', '.join(doc_cols)}) FROM STDIN") as cp:
                for r in doc_rows:
                    cp.write_row([_pg(r[c]) for c in doc_cols])
            with cur.copy(f"COPY feedback_data ({', '.join(fb_cols)}) FROM STDIN") as cp:
                for r in fb_rows:
                    cp.write_row([_pg(r[c]) for c in fb_cols])
        else:
            with store.engine.begin() as c:
                c.execute(insert(_table(DocumentRow)), doc_rows)
                c.execute(insert(_table(FeedbackRow)), fb_rows)
        chunk.clear()

    gen_time = 0.0
    raw = store.engine.raw_connection() if postgres else None
    pg = raw.driver_connection if raw is not None else None
    with store.engine.begin() as c:
        c.execute(
            insert(_table(CommitRow)),
            [
                {
                    "id": k + 1,
                    "created_at": BASE_TIME + timedelta(minutes=k + 1),
                    "committed_by": "bench",
                    "requested": DOCS_PER_COMMIT,
                    "committed": min(DOCS_PER_COMMIT, n_docs - k * DOCS_PER_COMMIT),
                }
                for k in range(n_commits)
            ],
        )
    t = time.perf_counter()
    for d in generate(n_docs):
        _add_counters(counters, d)
        chunk.append(d)
        if len(chunk) >= CHUNK_DOCS:
            gen_time += time.perf_counter() - t
            flush(pg)
            t = time.perf_counter()
    if chunk:
        flush(pg)
    if pg is not None and raw is not None:
        pg.commit()
        raw.close()
    with store.engine.begin() as c:
        c.execute(
            insert(_table(CounterRow)),
            [
                {
                    "model_type": mt,
                    "model_version": VERSION,
                    "field": fld,
                    **vals,
                    "last_commit_id": n_commits,
                }
                for (mt, fld), vals in sorted(counters.items())
            ],
        )
        if postgres:
            for table in ("commits", "feedback_data"):
                c.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    insert_done = time.perf_counter()
    if postgres:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    else:
        raw_sqlite = store.engine.raw_connection()
        raw_sqlite.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw_sqlite.close()
    total = time.perf_counter() - start
    with store.engine.connect() as c:
        n_fb = c.execute(
            text("SELECT count(*) FROM feedback_data WHERE committed_at IS NOT NULL")
        ).scalar()
        if postgres:
            size = c.execute(text("SELECT pg_database_size(current_database())")).scalar()
        else:
            db = store.engine.url.database or ""
            size = os.path.getsize(db)
    store.dispose()
    return {
        "documents": n_docs,
        "feedback_rows": int(n_fb or 0),
        "commits": n_commits,
        "populate_s": round(total, 2),
        "populate_generate_s": round(gen_time, 2),
        "populate_insert_s": round(insert_done - start - gen_time, 2),
        "populate_vacuum_s": round(total - (insert_done - start), 2),
        "db_mb": round(int(size or 0) / 1e6, 1),
        "counters": {f"{mt}/{fld}": v for (mt, fld), v in sorted(counters.items())},
    }


def _table(model: Any) -> Any:
    """The Core table of a declarative model (``__table__`` is typed as a FromClause)."""
    return model.__table__


def _pg(value: Any) -> Any:
    """COPY text values: JSON columns as their text, everything else as psycopg dumps it."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


# ------------------------------------------------------------------------------------ phases


def _median_time(fn: Any, n: int = TICKS) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def phase_tick(url: str, home: str) -> dict[str, Any]:
    import dagster as dg

    from selfimprove_assets.definitions import build_definitions
    from selfimprove_assets.defs.resources import FeedbackStoreResource
    from selfimprove_assets.lib.feedback.live import live_figures
    from selfimprove_assets.lib.monitor.trigger import evaluate_trigger
    from selfimprove_assets.lib.settings import load_settings
    from selfimprove_assets.lib.store.repository import FeedbackStore
    from selfimprove_assets.lib.types import RetrainState

    settings = load_settings({"SELFIMPROVE_HOME": home, "SELFIMPROVE_DATABASE_URL": url})
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"store": FeedbackStoreResource(database_url=url)}
    store = FeedbackStore(url, migrate=False)
    latest = store.max_commit_id()
    out: dict[str, Any] = {}
    for model_type in ("classifier", "extractor"):
        sensor = defs.get_repository_def().get_sensor_def(f"{model_type}_accuracy_sensor")
        times, triggered, message = [], [], ""
        for _ in range(TICKS + 1):
            store.set_retrain_state(model_type, RetrainState.IDLE)
            context = dg.build_sensor_context(
                instance=instance, cursor=str(latest - 1), definitions=defs, resources=resources
            )
            t = time.perf_counter()
            data = sensor.evaluate_tick(context)
            times.append(time.perf_counter() - t)
            triggered.append(len(data.run_requests or []))
            message = data.skip_message or (
                data.run_requests[0].run_key if data.run_requests else ""
            )
            assert data.cursor == str(latest), data.cursor
        store.set_retrain_state(model_type, RetrainState.IDLE)
        default = store.get_default(model_type)
        assert default is not None
        parts: dict[str, float] = {}
        parts["max_commit_id_s"], _ = _median_time(store.max_commit_id)
        parts["get_default_s"], _ = _median_time(lambda mt=model_type: store.get_default(mt))
        parts["live_counters_s"], figures = _median_time(
            lambda mt=model_type: live_figures(store, mt, VERSION)
        )
        parts["counter_commit_total_s"], commits = _median_time(
            lambda mt=model_type: store.counter_commit_total(mt, VERSION)
        )
        parts["evaluate_trigger_s"], decision = _median_time(
            lambda mt=model_type, f=figures, c=commits, d=default: evaluate_trigger(
                mt, d.retrain_state, f, d.thresholds, commits_since_deploy=c, min_commits=30
            )
        )
        out[model_type] = {
            "tick_first_s": round(times[0], 4),
            "tick_median_s": round(statistics.median(times[1:]), 4),
            "tick_all_s": [round(x, 4) for x in times],
            "run_requests": triggered[-1],
            "message": message,
            "commits_since_deploy": commits,
            "trigger": bool(decision.trigger),
            **{k: round(v, 5) for k, v in parts.items()},
        }
    store.dispose()
    return out


def phase_curate(url: str, model_type: str) -> dict[str, Any]:
    """One curation as the retraining-set asset runs it."""
    import pandas as pd

    from selfimprove_assets.defs.curation.assets import (
        RetrainingSetConfig,
        _lib_config,
        _underperforming,
    )
    from selfimprove_assets.lib.curation import sampling
    from selfimprove_assets.lib.store.repository import FeedbackStore

    store = FeedbackStore(url, migrate=False)
    default = store.get_default(model_type)
    assert default is not None
    rss_before = _rss_mb()
    lib_config = _lib_config(model_type, RetrainingSetConfig())
    t0 = time.perf_counter()
    rows = store.curation_rows(model_type, default.version)
    t1 = time.perf_counter()
    frame = pd.DataFrame(rows)
    t2 = time.perf_counter()
    under: list[str] = []
    if model_type == "classifier":
        result = sampling.curate_classifier(frame, lib_config)
    else:
        under = _underperforming(
            default.thresholds, store.live_counters(model_type, default.version)
        )
        result = sampling.curate_extractor(frame, under, lib_config)
    t3 = time.perf_counter()
    out: dict[str, Any] = {
        "rows": len(rows),
        "rss_before_mb": rss_before,
        "curation_s": round(t3 - t0, 2),
        "curation_rows_s": round(t1 - t0, 2),
        "dataframe_s": round(t2 - t1, 2),
        "curate_s": round(t3 - t2, 2),
        "peak_rss_curation_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "underperforming": under,
        "split": result.counts["split"],
        "replay_count": result.replay_count,
    }
    # Where curate_* spends it: the quality checks alone, on the same frame.
    from selfimprove_assets.lib.curation.quality import find_suspicious_feedback

    t = time.perf_counter()
    report = find_suspicious_feedback(frame, lib_config.quality)
    out["quality_checks_s"] = round(time.perf_counter() - t, 2)
    out["flagged"] = len(report.flagged)
    store.dispose()
    return out


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), to separate import cost from the work's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def worker(args: argparse.Namespace) -> None:
    logging.getLogger("dagster").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.phase == "populate":
        out = populate(args.url, args.rows)
    elif args.phase == "tick":
        out = phase_tick(args.url, args.home)
    else:
        out = phase_curate(args.url, args.phase.removeprefix("curate-"))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    Path(args.out).write_text(json.dumps(out, default=str))


# ------------------------------------------------------------------------------------ driver


def run_phase(phase: str, url: str, rows: int, home: Path) -> dict[str, Any]:
    out_file = home / f"{phase}.json"
    cmd = [
        sys.executable, __file__, "--worker", phase, "--url", url, "--rows", str(rows),
        "--home", str(home), "--out", str(out_file),
    ]  # fmt: skip
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    result = json.loads(out_file.read_text())
    result["process_s"] = round(time.perf_counter() - t, 2)
    result["load_before"] = round(load_before, 2)
    print(f"  {phase}: {time.perf_counter() - t:.1f}s (load {os.getloadavg()[0]:.2f})", flush=True)
    return result


def bench_backend(backend: str, url: str, rows: int, home: Path) -> dict[str, Any]:
    print(f"{backend}: {rows} rows", flush=True)
    out: dict[str, Any] = {"backend": backend, "rows": rows}
    out["populate"] = run_phase("populate", url, rows, home)
    out["tick"] = run_phase("tick", url, rows, home)
    for model_type in ("classifier", "extractor"):
        out[f"curate_{model_type}"] = run_phase(f"curate-{model_type}", url, rows, home)
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'backend':<11}{'rows':>9}{'populate s':>12}{'model':>12}{'tick s':>9}"
        f"{'(1st)':>8}{'curation s':>12}{'(fetch/df/curate)':>20}{'RSS MB':>9}{'load':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for model_type in ("classifier", "extractor"):
            tick, cur = r["tick"][model_type], r[f"curate_{model_type}"]
            parts = f"{cur['curation_rows_s']}/{cur['dataframe_s']}/{cur['curate_s']}"
            rss = max(r["tick"]["peak_rss_mb"], cur["peak_rss_mb"])
            print(
                f"{r['backend']:<11}{r['rows']:>9}{r['populate']['populate_s']:>12.1f}"
                f"{model_type:>12}{tick['tick_median_s']:>9.3f}{tick['tick_first_s']:>8.2f}"
                f"{cur['curation_s']:>12.1f}{parts:>20}{rss:>9.0f}{cur['load_before']:>7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    parser.add_argument(
        "--rows", type=int, default=None, help="committed feedback rows (half per model type)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--home", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.phase = args.worker
        worker(args)
        return
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    if rows < 2 * DOCS_PER_COMMIT:
        parser.error(f"--rows must be at least {2 * DOCS_PER_COMMIT}, got {rows}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = sorted(set(backends) - {"sqlite", "postgresql"})
    if bad:
        parser.error(f"--backends: unknown {bad}; choose from sqlite, postgresql")
    results = []
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        for backend in backends:
            home = Path(tmp) / backend
            home.mkdir()
            if backend == "sqlite":
                results.append(
                    bench_backend(backend, f"sqlite:///{home / 'selfimprove.db'}", rows, home)
                )
                continue
            from selfimprove_assets_tests.postgres_server import create_database, postgres_server

            with postgres_server() as admin_url:
                url = create_database(admin_url)
                results.append(bench_backend(backend, url, rows, home))
    print()
    print_table(results)
    payload = {
        "benchmark": "bench_monitor",
        "quick": args.quick,
        "rows": rows,
        "split": "rows/2 documents, each with one classifier and one extractor feedback row",
        "cpu_count": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started, 1),
        "targets": {"tick_s": 1.0, "curation_s": 30.0},
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()

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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from monitor_fill import DOCS_PER_COMMIT, VERSION, populate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "bench_monitor.json"
TICKS = 5


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
    from selfimprove_assets.lib.loop import cycle
    from selfimprove_assets.lib.monitor.trigger import evaluate_trigger
    from selfimprove_assets.lib.settings import load_settings
    from selfimprove_assets.lib.store.repository import FeedbackStore

    settings = load_settings({"SELFIMPROVE_HOME": home, "SELFIMPROVE_DATABASE_URL": url})
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"store": FeedbackStoreResource(database_url=url)}
    store = FeedbackStore(url, migrate=False)
    latest = store.counters.max_commit_id()
    out: dict[str, Any] = {}
    for model_type in ("classifier", "extractor"):
        sensor = defs.get_repository_def().get_sensor_def(f"{model_type}_accuracy_sensor")
        times, triggered, message = [], [], ""
        for _ in range(TICKS + 1):
            cycle.rearm(store, model_type)
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
        cycle.rearm(store, model_type)
        default = store.models.get_default(model_type)
        assert default is not None
        parts: dict[str, float] = {}
        parts["max_commit_id_s"], _ = _median_time(store.counters.max_commit_id)
        parts["get_default_s"], _ = _median_time(lambda mt=model_type: store.models.get_default(mt))
        parts["live_counters_s"], figures = _median_time(
            lambda mt=model_type: live_figures(store, mt, VERSION)
        )
        parts["counter_commit_total_s"], commits = _median_time(
            lambda mt=model_type: store.counters.counter_commit_total(mt, VERSION)
        )
        parts["evaluate_trigger_s"], decision = _median_time(
            lambda mt=model_type, f=figures, c=commits, d=default: evaluate_trigger(
                mt,
                d.retrain_state,
                f,
                d.thresholds,
                commits_since_deploy=c,
                min_commits=settings.monitor.min_commits,  # the sensor's rules: the settings'
                min_corrections=settings.monitor.min_corrections,
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

    from selfimprove_assets.defs.curation.assets import RetrainingSetConfig, _lib_config
    from selfimprove_assets.lib.curation.sampling import sample_retraining_set
    from selfimprove_assets.lib.defaults import CurationSettings
    from selfimprove_assets.lib.loop.curate import underperforming
    from selfimprove_assets.lib.store.repository import FeedbackStore

    store = FeedbackStore(url, migrate=False)
    default = store.models.get_default(model_type)
    assert default is not None
    rss_before = _rss_mb()
    lib_config = _lib_config(model_type, RetrainingSetConfig(), CurationSettings())
    t0 = time.perf_counter()
    rows = store.curation.curation_rows(model_type, default.version)
    t1 = time.perf_counter()
    frame = pd.DataFrame(rows)
    t2 = time.perf_counter()
    under = underperforming(
        default.thresholds, store.counters.live_counters(model_type, default.version)
    )
    result = sample_retraining_set(model_type, frame, under, lib_config)
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

"""``selfimprove demo``: the whole loop on embedded defaults, watched from the terminal.

Generates a corpus, ingests it, trains V1 of both models, then streams documents through the
real API (in-process) while a simulated reviewer corrects and commits. After each batch the
real sensors are evaluated against the Dagster instance in ``SELFIMPROVE_HOME``; a run they
request is executed in-process with the same tags, so the UI later shows the sensor-started
runs, the evaluation reports and the accuracy plots.
"""

import json
import logging
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
from fastapi.testclient import TestClient
from rich.console import Console
from rich.live import Live
from rich.table import Table

from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
from selfimprove_assets.lib.documents.corpus import read_labels
from selfimprove_assets.lib.documents.synth import SCENARIOS, generate_corpus
from selfimprove_assets.lib.feedback.live import models_overview
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES
from selfimprove_assets.loop_driver import QUIET, run_retraining, tick_sensor
from selfimprove_assets.runner import prepare_instance

logger = logging.getLogger(__name__)
DEMO_TOKEN = "demo-reviewer-token"


@dataclass
class DemoOptions:
    quick: bool = False
    scenario: str = "new_vocabulary"
    seed: int = 0
    error_rate: float = 0.02
    n_train: int = 240
    n_clean: int = 80  # streamed like the training data, before the drift
    n_stream: int = 320  # drifted documents streamed after them
    batch_size: int = 20
    min_commits: int = 30
    # The sensor starts a retrain once the failing fields hold this many corrections: enough
    # for a candidate to learn the new pattern and show it on the held-out slice.
    min_corrections: int = 60
    epochs: int = 15
    classifier_epochs: int = 6
    warm_start_epochs: int = 5
    # After a rejection the demo plays the operator: this many batches later it re-runs the
    # retraining job (as one would from the UI), now with the feedback that arrived meanwhile.
    operator_retry_batches: int = 5
    operator_retries: int = 1
    max_length: int = 256
    learning_rate: float = 2e-3


@dataclass
class Timeline:
    points: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def tiny_backbone_for(folders: list[Path], target: Path) -> Path:
    """A tiny BERT whose vocabulary is the corpus words (``--quick`` and the tests).

    The architecture and code path are the production ones; only the backbone is small, so a
    whole loop runs in minutes on two cores.
    """
    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.models.backbone import save_tiny_backbone

    pages = PageStore(target.parent / "tiny-pages")
    words: set[str] = set()
    for folder in folders:
        for doc in read_labels(folder):
            _, page_words, _ = pages.extract_cached(doc.file)
            words.update(w.text.lower() for w in page_words.words)
            words.update(t.lower() for e in doc.entities for t in e.text.split())
    return save_tiny_backbone(target, sorted(words))


def _options(opts: DemoOptions) -> DemoOptions:
    if opts.quick:
        opts.n_train, opts.n_stream, opts.batch_size, opts.min_commits = 36, 36, 12, 10
        opts.n_clean, opts.min_corrections, opts.classifier_epochs = 12, 0, 4
        opts.epochs, opts.max_length, opts.learning_rate = 4, 128, 1e-2
        opts.warm_start_epochs = 4
    if opts.scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {opts.scenario!r}; choose from {sorted(SCENARIOS)}")
    return opts


def _status_table(store: FeedbackStore, phase: str, processed: int, total: int) -> Table:
    table = Table(title=f"selfimprove demo — {phase} — {processed}/{total} documents streamed")
    for col in ("model", "default", "retrain state", "live accuracy", "n", "worst field"):
        table.add_column(col)
    for model_type, info in models_overview(store).items():
        live = {k: v for k, v in info["live"].items() if v["accuracy"] is not None}
        correct, n = _overall(live)
        worst = min(live.items(), key=lambda kv: kv[1]["accuracy"]) if live else None
        table.add_row(
            model_type,
            str(info["default_version"]),
            str(info["retrain_state"]),
            f"{correct / n:.3f}" if n else "-",
            str(n),
            f"{worst[0]} {worst[1]['accuracy']:.3f} (n={worst[1]['n']})" if worst else "-",
        )
    return table


def run_demo(settings: Settings, opts: DemoOptions, console: Console) -> dict[str, Any]:
    from selfimprove_assets.api.app import create_app
    from selfimprove_assets.definitions import build_definitions
    from selfimprove_assets.defs.resources import TrainingJobResource

    opts = _options(opts)
    os.environ["SELFIMPROVE_HOME"] = str(settings.home)
    instance = prepare_instance(settings)
    started = time.perf_counter()
    corpus = settings.home / "corpus"
    stream_clean = settings.home / "stream" / "clean"
    stream_drift = settings.home / "stream" / f"drift-{opts.scenario}"
    with console.status("generating the synthetic corpus and the document streams..."):
        generate_corpus(corpus, n=opts.n_train, seed=opts.seed, scenario="baseline")
        generate_corpus(stream_clean, n=opts.n_clean, seed=opts.seed + 1, scenario="baseline")
        generate_corpus(stream_drift, n=opts.n_stream, seed=opts.seed + 2, scenario=opts.scenario)
    console.print(
        f"[bold]drift scenario[/] {opts.scenario}: {SCENARIOS[opts.scenario].description}"
    )
    if opts.quick:
        with console.status("building a tiny backbone from the corpus vocabulary (--quick)..."):
            tiny = tiny_backbone_for([corpus, stream_clean, stream_drift], settings.home / "tiny")
        settings = replace(settings, backbone=str(tiny))
    trainer = TrainingJobResource(
        epochs=opts.epochs,
        classifier_epochs=opts.classifier_epochs,
        warm_start_epochs=opts.warm_start_epochs,
        max_length=opts.max_length,
        learning_rate=opts.learning_rate,
    )
    defs = build_definitions(
        settings,
        min_commits=opts.min_commits,
        min_corrections=opts.min_corrections,
        resources={"trainer": trainer},
    )
    repo = defs.get_repository_def()
    assets_job = defs.resolve_implicit_global_asset_job_def()
    with console.status("ingesting: pages, OCR, alignment, golden/training split..."):
        assets_job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
            run_config={
                **QUIET,
                "ops": {"source_documents": {"config": {"corpus_dir": str(corpus)}}},
            },
        )
    with console.status("training V1 of both models (LoRA on the backbone)..."):
        assets_job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("classifier_baseline"), dg.AssetKey("extractor_baseline")],
            run_config=QUIET | _baseline_config(opts),
        )
    store = FeedbackStore(settings.database_url)
    app = create_app(replace(settings, api_tokens=f"{DEMO_TOKEN}:admin"), store=store)
    timeline = Timeline()
    golden_before: dict[str, Any] = {}
    for model_type in MODEL_TYPES:
        default = store.get_default(model_type)
        golden_before[model_type] = (default.baseline_metrics if default else {}).get("headline")
    cursors: dict[str, str | None] = {}
    docs = [("clean", d) for d in read_labels(stream_clean)] + [
        ("drift", d) for d in read_labels(stream_drift)
    ]
    with TestClient(app) as client:
        sim = ReviewerSimulator(
            "http://demo",
            DEMO_TOKEN,
            error_rate=opts.error_rate,
            rng=random.Random(opts.seed),
            client=client,  # type: ignore[arg-type]  # TestClient is an httpx.Client in-process
        )
        with Live(
            _status_table(store, "streaming", 0, len(docs)), console=console, refresh_per_second=2
        ) as live:
            for start in range(0, len(docs), opts.batch_size):
                batch = docs[start : start + opts.batch_size]
                phase = batch[-1][0]
                sim.review_batch([d for _, d in batch])
                processed = start + len(batch)
                overview = models_overview(store)
                timeline.points.append(
                    {"processed": processed, "phase": phase, "overview": overview}
                )
                live.update(_status_table(store, phase, processed, len(docs)))
                for model_type in MODEL_TYPES:
                    event, _ = tick_sensor(
                        repo,
                        instance,
                        defs,
                        model_type,
                        cursors,
                        _policy(opts, model_type),
                        _baseline_config(opts),
                    )
                    if event is None:
                        event = _operator_retry(
                            repo, instance, defs, store, model_type, timeline, processed, opts
                        )
                    if event:
                        event["processed"] = processed
                        timeline.events.append(event)
                        live.update(_status_table(store, phase, processed, len(docs)))
    elapsed = time.perf_counter() - started
    summary = _summary(store, timeline, golden_before, elapsed)
    summary["report"] = str(_write_report(settings, timeline, summary))
    return summary


# Run config of the baselines for tiny smoke models (``--quick`` and the tests): they may stay
# at chance on the golden set, and still become the default so the loop around them runs.
SMOKE_BASELINES: dict[str, Any] = {
    "ops": {f"{t}_baseline": {"config": {"require_learning": False}} for t in MODEL_TYPES}
}


def _baseline_config(opts: DemoOptions) -> dict[str, Any]:
    """``--quick``'s tiny models may stay at chance; the full demo stops if V1 learnt nothing."""
    return SMOKE_BASELINES if opts.quick else {}


def _policy(opts: DemoOptions, model_type: str) -> dict[str, Any]:
    """Run config of a retraining run. ``--quick`` trains tiny models that fit but barely
    generalise, so it promotes on non-regression (golden drop up to 0.25) instead of requiring
    a significant gain; the full demo keeps the default policy."""
    if not opts.quick:
        return {}
    lenient = {"require_significant_improvement": False, "golden_tolerance": 0.25}
    return {"ops": {f"{model_type}_evaluation": {"config": lenient}}}


def _operator_retry(
    repo: Any,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    store: FeedbackStore,
    model_type: str,
    timeline: Timeline,
    processed: int,
    opts: DemoOptions,
) -> dict[str, Any] | None:
    """The alternate path: a rejected candidate leaves the state FAILED and the sensor waits
    for an operator. Some batches later the demo re-runs the retraining job the way an operator
    would from the launchpad: same trigger, a new attempt of the same cycle, more feedback."""
    default = store.get_default(model_type)
    if default is None or default.retrain_state != "FAILED":
        return None
    mine = [e for e in timeline.events if e["model_type"] == model_type]
    if not mine or mine[-1]["promoted"] or not mine[-1].get("tags"):
        return None
    if processed - mine[-1]["processed"] < opts.operator_retry_batches * opts.batch_size:
        return None
    if sum(1 for e in mine if e.get("operator_retry")) >= opts.operator_retries:
        return None
    tags = {k: v for k, v in mine[-1]["tags"].items() if not k.startswith("dagster/")}
    tags["selfimprove/started_by"] = "operator (demo)"
    event = run_retraining(repo, instance, defs, model_type, tags, _policy(opts, model_type))
    event["operator_retry"] = True
    return event


def _overall(live: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """(correct, total) over every field of a model: documents for the classifier, entities
    for the extractor (each field's accuracy times its sample size, summed)."""
    correct = sum(round(v["accuracy"] * v["n"]) for v in live.values() if v["accuracy"] is not None)
    total = sum(int(v["n"]) for v in live.values() if v["accuracy"] is not None)
    return correct, total


def batch_series(timeline: Timeline, model_type: str) -> list[dict[str, Any]]:
    """Accuracy of the default on each streamed batch alone.

    The live counters accumulate since the default was deployed, so a batch's figure is the
    difference from the previous point; after a promotion the new default's counters start at
    zero and the first point is its own batch.
    """
    series: list[dict[str, Any]] = []
    previous: tuple[Any, int, int] | None = None
    for point in timeline.points:
        info = point["overview"][model_type]
        version = info.get("default_version")
        correct, total = _overall(info["live"])
        if previous is not None and previous[0] == version:
            d_correct, d_total = correct - previous[1], total - previous[2]
        else:
            d_correct, d_total = correct, total
        previous = (version, correct, total)
        series.append(
            {
                "processed": point["processed"],
                "phase": point["phase"],
                "version": version,
                "correct": d_correct,
                "total": d_total,
                "accuracy": d_correct / d_total if d_total else None,
            }
        )
    return series


def _pooled(points: list[dict[str, Any]]) -> float | None:
    total = sum(p["total"] for p in points)
    return round(sum(p["correct"] for p in points) / total, 4) if total else None


def _summary(
    store: FeedbackStore, timeline: Timeline, golden_before: dict[str, Any], elapsed: float
) -> dict[str, Any]:
    rows = {}
    for model_type in MODEL_TYPES:
        series = batch_series(timeline, model_type)
        events = [
            e for e in timeline.events if e["model_type"] == model_type and not e.get("joined")
        ]
        promoted = [e for e in events if e["promoted"]]
        after = [p for p in series if promoted and p["processed"] > promoted[-1]["processed"]]
        drifted = [p for p in series if p["phase"] == "drift" and p["accuracy"] is not None]
        before_promotion = [
            p for p in drifted if not promoted or p["processed"] <= promoted[0]["processed"]
        ]
        default = store.get_default(model_type)
        drift_start = max((p["processed"] for p in series if p["phase"] == "clean"), default=0)
        rows[model_type] = {
            "accuracy_before_drift": _pooled([p for p in series if p["phase"] == "clean"]),
            "accuracy_lowest": min(
                (round(p["accuracy"], 4) for p in before_promotion), default=None
            ),
            "accuracy_after_promotion": _pooled(after),
            "retrains_triggered": len(events),
            "promotions": len(promoted),
            "drifted_documents_until_trigger": (
                events[0]["processed"] - drift_start if events else None
            ),
            "cycle_seconds": events[0]["seconds"] if events else None,
            "golden_before": golden_before.get(model_type),
            "golden_after": promoted[-1]["scores"]["golden"]["candidate"] if promoted else None,
            "default_version": default.version if default else None,
        }
    return {
        "seconds": round(elapsed, 1),
        "models": rows,
        "events": timeline.events,
        "series": {t: batch_series(timeline, t) for t in MODEL_TYPES},
        "live": [
            {
                "processed": p["processed"],
                "phase": p["phase"],
                "overview": {t: p["overview"][t]["live"] for t in MODEL_TYPES},
            }
            for p in timeline.points
        ],
    }


def _write_report(settings: Settings, timeline: Timeline, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for model_type in MODEL_TYPES:
        points = [p for p in summary["series"][model_type] if p["accuracy"] is not None]
        ax.plot(
            [p["processed"] for p in points],
            [p["accuracy"] for p in points],
            marker="o",
            label=f"{model_type} (accuracy per batch)",
        )
    clean = [p["processed"] for p in timeline.points if p["phase"] == "clean"]
    if timeline.points and timeline.points[-1]["phase"] == "drift":
        start = clean[-1] if clean else 0
        ax.axvspan(start, timeline.points[-1]["processed"], color="0.92", zorder=0, label="drift")
    for event in timeline.events:
        ax.axvline(event["processed"], color="green" if event["promoted"] else "red", ls="--")
        ax.annotate(
            f"{event['model_type']} v{event['candidate_version']} "
            f"{'promoted' if event['promoted'] else 'rejected'}",
            (event["processed"], 0.05),
            rotation=90,
            fontsize=7,
        )
    ax.set_xlabel("documents streamed")
    ax.set_ylabel("accuracy of the default on each batch")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title("selfimprove: live accuracy over the document stream")
    png = reports / "accuracy.png"
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    (reports / "demo.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    rows = "".join(
        f"<tr><td>{t}</td>" + "".join(f"<td>{v}</td>" for v in r.values()) + "</tr>"
        for t, r in summary["models"].items()
    )
    head = "".join(f"<th>{k}</th>" for k in next(iter(summary["models"].values())))
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>selfimprove demo</title></head>"
        f"<body><h1>selfimprove demo</h1><p>{summary['seconds']} s</p>"
        f"<table border=1><tr><th>model</th>{head}</tr>{rows}</table>"
        "<img src='accuracy.png' alt='accuracy over the stream'></body></html>"
    )
    path = reports / "demo.html"
    path.write_text(html, encoding="utf-8")
    return path

"""The demo's report: the accuracy of the default on each streamed batch, the figures per
model (before the drift, lowest, after the promotion), and the files written (JSON, HTML and
the accuracy plot)."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES


@dataclass
class Timeline:
    points: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def overall(live: dict[str, dict[str, Any]]) -> tuple[int, int]:
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
        correct, total = overall(info["live"])
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


def summarize(
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
        default = store.models.get_default(model_type)
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


def write_report(settings: Settings, timeline: Timeline, summary: dict[str, Any]) -> Path:
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

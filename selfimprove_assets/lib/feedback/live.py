"""Live figures of the default models, read from the running counters (never a table scan).

The formulas are the monitor's (``lib.monitor.trigger.field_metrics``), so the CLI, the API,
the accuracy asset and the sensor all report the figure the trigger decides on.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from selfimprove_assets.lib.automation.report import version_automation
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.monitor.trigger import FieldFigure, field_metrics
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES

FIGURE_KEYS = tuple(f.name for f in fields(FieldFigure))


def live_figures(store: FeedbackStore, model_type: str, version: str) -> dict[str, FieldFigure]:
    """Each field's counters of a version as a ``FieldFigure``."""
    return {
        name: FieldFigure(**{k: int(counts.get(k, 0)) for k in FIGURE_KEYS})
        for name, counts in sorted(store.counters.live_counters(model_type, version).items())
    }


def field_summary(model_type: str, figure: FieldFigure) -> dict[str, Any]:
    """Accuracy with its sample size (and precision, recall, F1 for entity fields)."""
    metrics = field_metrics(figure, entity_level=kind_of(model_type).entity_level)
    summary: dict[str, Any] = {
        "accuracy": metrics["accuracy"].value,
        "n": metrics["accuracy"].n,
        "documents": figure.committed,
    }
    for name in ("precision", "recall", "f1"):
        summary[name] = metrics[name].value if name in metrics else None
    return summary


def default_versions(store: FeedbackStore) -> dict[str, str | None]:
    """Each model type's default version, None where it has none."""
    return {t: (d.version if (d := store.models.get_default(t)) else None) for t in MODEL_TYPES}


def models_overview(store: FeedbackStore) -> dict[str, dict[str, Any]]:
    overview: dict[str, dict[str, Any]] = {}
    for model_type in MODEL_TYPES:
        default = store.models.get_default(model_type)
        if default is None:
            overview[model_type] = {
                "default_version": None,
                "retrain_state": None,
                "thresholds": {},
                "live": {},
            }
            continue
        figures = live_figures(store, model_type, default.version)
        overview[model_type] = {
            "default_version": default.version,
            "retrain_state": default.retrain_state,
            "state_reason": default.state_reason,
            "thresholds": default.thresholds,
            "live": {name: field_summary(model_type, f) for name, f in figures.items()},
            "automation": version_automation(store, model_type, default.version),
        }
    return overview

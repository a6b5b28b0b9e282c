"""Live accuracy of the default models, from committed feedback not yet used for retraining."""

from typing import Any

import dagster as dg

from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.lib.feedback.live import live_figures
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.monitor.trigger import FieldFigure, field_metrics
from selfimprove_assets.lib.types import MODEL_TYPES


def accuracy_metadata(
    model_type: str, version: str, figures: dict[str, FieldFigure], thresholds: dict[str, float]
) -> dict[str, Any]:
    """Figures with sample sizes and 95% intervals; one float per field so Dagster plots it."""
    rows = ["| field | accuracy | 95% CI | n | threshold |", "|---|---|---|---|---|"]
    metadata: dict[str, Any] = {"version": version}
    total_n = 0
    for name, figure in sorted(figures.items()):
        metrics = field_metrics(figure, entity_level=kind_of(model_type).entity_level)
        acc = metrics["accuracy"]
        total_n += acc.n
        if acc.value is None:
            continue
        threshold = thresholds.get(name)
        rows.append(
            f"| {name} | {acc.value:.3f} | [{acc.lower:.3f}, {acc.upper:.3f}] | {acc.n} | "
            f"{'-' if threshold is None else f'{threshold:.3f}'} |"
        )
        metadata[f"accuracy/{name}"] = dg.MetadataValue.float(float(acc.value))
        metadata[f"n/{name}"] = dg.MetadataValue.int(int(acc.n))
    metadata["figures"] = dg.MetadataValue.md("\n".join(rows))
    metadata["fields_observed"] = total_n
    return metadata


def build_accuracy_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(model_type, "accuracy")
    def _accuracy(
        context: dg.AssetExecutionContext, store: FeedbackStoreResource
    ) -> dg.MaterializeResult:
        """Live accuracy of the default {model_type} from committed reviews (1 -
        corrected/committed per field), with 95% Wilson intervals. The sensor reports it at
        every commit batch, so the asset page plots it over time."""
        feedback = store.get()
        default = feedback.models.get_default(model_type)
        if default is None:
            raise dg.Failure(f"no default {model_type}: materialize {model_type}_baseline first")
        figures = live_figures(feedback, model_type, default.version)
        context.log.info("%s v%s: %d fields observed", model_type, default.version, len(figures))
        return dg.MaterializeResult(
            metadata=accuracy_metadata(model_type, default.version, figures, default.thresholds)
        )

    return _accuracy


accuracy_assets = [build_accuracy_asset(t) for t in MODEL_TYPES]

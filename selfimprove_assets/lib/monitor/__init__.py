"""Live-accuracy monitoring: Wilson bounds and the retrain trigger (plain Python)."""

from selfimprove_assets.lib.monitor.power import (
    Evidence,
    GauntletPower,
    gauntlet_evidence,
    observations_to_detect,
)
from selfimprove_assets.lib.monitor.stats import (
    Interval,
    is_statistically_below,
    no_data_interval,
    wilson_interval,
    wilson_lower_bound,
    wilson_upper_bound,
)
from selfimprove_assets.lib.monitor.trigger import (
    BelowThreshold,
    FieldFigure,
    MetricEstimate,
    TriggerDecision,
    evaluate_trigger,
    field_metrics,
)

__all__ = [
    "BelowThreshold",
    "Evidence",
    "GauntletPower",
    "FieldFigure",
    "Interval",
    "MetricEstimate",
    "TriggerDecision",
    "evaluate_trigger",
    "field_metrics",
    "gauntlet_evidence",
    "is_statistically_below",
    "no_data_interval",
    "observations_to_detect",
    "wilson_interval",
    "wilson_lower_bound",
    "wilson_upper_bound",
]

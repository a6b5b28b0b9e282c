"""The loop's rules in effect, as the ``rules`` resource: shown in the Dagster UI, read by the
baseline, evaluation and champion assets.

The values come from ``lib.settings`` (``selfimprove.toml`` and ``SELFIMPROVE_*`` variables over
the defaults in ``lib.defaults``); ``build_definitions`` builds the resource from the settings it
is given. The sections mirror ``lib.defaults`` without defaults of their own, so the values have
one source. A run may still override a threshold or a policy value in its run config
(``ThresholdConfig``, ``PromotionPolicyConfig``); unset, those fields take the values here.
"""

from dataclasses import fields
from typing import Any

import dagster as dg
from pydantic import Field

from selfimprove_assets.lib.defaults import (
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
)
from selfimprove_assets.lib.settings import Settings


class MonitorRules(dg.Config):
    """The accuracy sensors' evidence rules (fixed when the code location loads)."""

    min_commits: int = Field(description="Committed documents since the default was deployed.")
    min_corrections: int = Field(
        description="Corrections the fields below their threshold must hold before a retrain."
    )
    decision_power: float | None = Field(
        description="Power of the production slice's test to show a candidate closing the gap "
        "to the threshold (at the promotion alpha); the sensor waits for the reviewed "
        "documents that give it. None: detection alone triggers."
    )
    slice_share: float = Field(
        description="Share of the reviewed documents curation holds out as the production slice."
    )
    min_slice_documents: int = Field(
        description="Documents the production slice holds at least before a retrain starts."
    )
    rearm_ratio: float = Field(
        description="After a rejection, the next attempt re-arms once this many times the "
        "documents the rejected attempt used were committed since."
    )
    max_attempts: int = Field(
        description="Rejected automatic attempts of a cycle before the loop waits for an "
        "operator (a reset or a manual re-run starts the count again)."
    )


class ThresholdRules(dg.Config):
    """The thresholds a new default gets (V1 or a promoted candidate)."""

    margin: float = Field(description="Below the new default's golden-set field figures.")
    floor: float = Field(
        description="The lowest threshold: the team's quality target. A default below it keeps "
        "collecting corrections into retrains until a candidate reaches it."
    )


class PromotionRules(dg.Config):
    """When a candidate may replace the default (``lib.promotion.policy``)."""

    alpha: float = Field(description="Significance level of the paired tests.")
    golden_tolerance: float = Field(description="Largest drop of the overall golden figure.")
    critical: dict[str, float] = Field(description="Critical labels/types and their allowed drop.")
    require_significant_improvement_on: list[str] = Field(
        description="Fields that must improve significantly on production ('trigger fields': "
        "those that triggered the retrain); empty: promote on non-regression alone."
    )
    production_tolerance: float | None = Field(
        description="Largest drop of the overall production figure (None: not checked)."
    )
    trigger_test: str = Field(description="pooled (one test of the trigger fields) or each.")
    trigger_field_tolerance: float = Field(
        description="pooled: largest drop of any one trigger field on production."
    )
    bootstrap: int = Field(description="Bootstrap resamples for the intervals.")
    rule: str = Field(
        description="Where a required gain may be shown: either (golden set or production "
        "slice), both, production or golden; no significant regression on both, always."
    )
    regression: str = Field(
        description="significant: a drop beyond its tolerance fails only when the one-sided "
        "paired test says the candidate is worse at alpha; point: any point drop beyond it."
    )


class LoopRules(dg.ConfigurableResource):
    """The loop's rules in effect, from ``selfimprove.toml`` and ``SELFIMPROVE_*`` variables
    over the defaults. Change them there (see ``selfimprove.example.toml``), not in code."""

    config_file: str = Field(description="The selfimprove.toml that was read ('' for none).")
    monitor: MonitorRules
    thresholds: ThresholdRules
    promotion: PromotionRules

    @classmethod
    def from_settings(cls, settings: Settings) -> "LoopRules":
        rules = settings.rules()
        return cls(
            config_file=str(settings.config_file or ""),
            monitor=MonitorRules(**rules["monitor"]),
            thresholds=ThresholdRules(**rules["thresholds"]),
            promotion=PromotionRules(**rules["promotion"]),
        )

    def monitor_settings(self) -> MonitorSettings:
        return MonitorSettings(**_values(self.monitor, MonitorSettings))

    def threshold_settings(self) -> ThresholdSettings:
        return ThresholdSettings(**_values(self.thresholds, ThresholdSettings))

    def promotion_settings(self) -> PromotionSettings:
        values = _values(self.promotion, PromotionSettings)
        values["require_significant_improvement_on"] = tuple(
            values["require_significant_improvement_on"]
        )
        return PromotionSettings(**values)


def _values(section: dg.Config, cls: type[Any]) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(cls)}

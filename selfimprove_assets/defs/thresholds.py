"""Run-config overrides of the rules: the thresholds a new default gets (one config for V1 and
promotions) and the promotion policy of an evaluation.

The values are the ``rules`` resource's (``[thresholds]`` and ``[promotion]`` in
``selfimprove.toml``, ``SELFIMPROVE_THRESHOLDS_*`` / ``SELFIMPROVE_PROMOTION_*``); a field set in
a run's config overrides them for that run, an unset one (None) takes them.
"""

from dataclasses import replace

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.lib.defaults import TRIGGER_FIELDS, ThresholdSettings
from selfimprove_assets.lib.promotion.policy import PromotionPolicy


class ThresholdConfig(dg.Config):
    threshold_margin: float | None = Field(
        default=None,
        description="Thresholds = the new default's golden-set field accuracy minus this margin. "
        "Unset: the `rules` resource's thresholds.margin ([thresholds] margin).",
    )
    threshold_floor: float | None = Field(
        default=None,
        description="The lowest threshold a field gets: the team's quality target. A default "
        "below it keeps collecting corrections into retrains (the sensor's evidence rules "
        "still apply) until a candidate reaches it. Unset: the `rules` resource's "
        "thresholds.floor ([thresholds] floor).",
    )

    def thresholds(self, rules: LoopRules) -> ThresholdSettings:
        """The rules' thresholds with this run's overrides."""
        base = rules.threshold_settings()
        margin, floor = self.threshold_margin, self.threshold_floor
        return replace(
            base,
            margin=base.margin if margin is None else margin,
            floor=base.floor if floor is None else floor,
        )


class PromotionPolicyConfig(dg.Config):
    """The promotion policy of one evaluation; unset fields: the ``rules`` resource's."""

    alpha: float | None = Field(default=None, description="Significance level of the paired tests.")
    golden_tolerance: float | None = Field(
        default=None, description="Largest allowed drop of the overall golden-set figure."
    )
    critical: dict[str, float] | None = Field(
        default=None,
        description="Critical labels/types and the largest drop each may show (e.g. npi: 0.0).",
    )
    bootstrap: int | None = Field(default=None, description="Bootstrap resamples for intervals.")
    require_significant_improvement: bool | None = Field(
        default=None,
        description="Require the fields that triggered the retrain to improve significantly on "
        "the production slice. Off: promote on non-regression alone. Unset: the rules' "
        "require_significant_improvement_on.",
    )
    trigger_test: str | None = Field(
        default=None,
        description="pooled or each. pooled: one paired test of the trigger fields' combined "
        "figure, and no "
        "trigger field may drop by more than trigger_field_tolerance; each: every trigger field "
        "must improve significantly on its own (strict: a near-perfect field cannot).",
    )
    trigger_field_tolerance: float | None = Field(
        default=None,
        description="pooled test: largest drop any single trigger field may show on production.",
    )

    rule: str | None = Field(
        default=None,
        description="Where a required gain may be shown: either (the golden set or the "
        "production slice), both, production or golden.",
    )

    def policy(self, rules: LoopRules) -> tuple[PromotionPolicy, int]:
        """The rules' policy with this run's overrides, and the bootstrap resamples."""
        base = rules.promotion_settings()
        values = base.policy_dict()
        for key in (
            "alpha",
            "golden_tolerance",
            "critical",
            "trigger_test",
            "trigger_field_tolerance",
            "rule",
        ):
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        if self.require_significant_improvement is not None:
            required = self.require_significant_improvement
            values["require_significant_improvement_on"] = [TRIGGER_FIELDS] if required else []
        bootstrap = base.bootstrap if self.bootstrap is None else self.bootstrap
        return PromotionPolicy.from_dict(values), bootstrap

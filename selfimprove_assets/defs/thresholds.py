"""Run-config overrides of the rules: the thresholds a new default gets (one config for V1 and
promotions) and the promotion policy of an evaluation.

The values are the ``rules`` resource's (``[thresholds]`` and ``[promotion]`` in
``selfimprove.toml``, ``SELFIMPROVE_THRESHOLDS_*`` / ``SELFIMPROVE_PROMOTION_*``); a field set in
a run's config overrides them for that run, an unset one (None) takes them. The policy's fields
are derived from the ``[promotion]`` schema (``defs.schema``), so a new promotion knob appears
here by itself; the thresholds keep their launchpad names (``threshold_margin``,
``threshold_floor``), which run configs and the README use.
"""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.schema import derived_config, overridden
from selfimprove_assets.lib.defaults import TRIGGER_FIELDS, PromotionSettings, ThresholdSettings
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
        return base.model_copy(
            update={
                "margin": base.margin if margin is None else margin,
                "floor": base.floor if floor is None else floor,
            }
        )


if TYPE_CHECKING:
    _PromotionFields = dg.Config
else:  # the [promotion] section's fields, unset: the rules resource's
    _PromotionFields = derived_config(
        "_PromotionFields", PromotionSettings, "launchpad", name="promotion"
    )


class PromotionPolicyConfig(_PromotionFields):
    """The promotion policy of one evaluation; unset fields: the ``rules`` resource's."""

    require_significant_improvement: bool | None = Field(
        default=None,
        description="Shortcut for require_significant_improvement_on: on requires the fields "
        "that triggered the retrain to improve significantly on the production slice, off "
        "promotes on non-regression alone. Unset: require_significant_improvement_on.",
    )

    def policy(self, rules: LoopRules) -> tuple[PromotionPolicy, int]:
        """The rules' policy with this run's overrides, and the bootstrap resamples."""
        settings = overridden(rules.promotion_settings(), self)
        values = settings.policy_dict()
        if self.require_significant_improvement is not None:
            required = self.require_significant_improvement
            values["require_significant_improvement_on"] = [TRIGGER_FIELDS] if required else []
        return PromotionPolicy.from_dict(values), settings.bootstrap

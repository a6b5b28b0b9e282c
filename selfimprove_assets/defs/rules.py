"""The loop's rules in effect, as the ``rules`` resource: shown in the Dagster UI, read by the
sensors' runs, the baseline, curation, evaluation and champion assets.

The values come from ``lib.settings`` (``selfimprove.toml`` and ``SELFIMPROVE_*`` variables over
the defaults in ``lib.defaults``); ``build_definitions`` builds the resource from the settings it
is given. Each section's config class is derived from its schema (``defs.schema``) with every
field required, so the values have one source. A run may still override a value in its run
config (``ThresholdConfig``, ``PromotionPolicyConfig``, the curation and split configs); unset,
those fields take the values here.
"""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.schema import derived_config, section_of
from selfimprove_assets.lib.defaults import (
    CorpusSettings,
    CurationSettings,
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
)
from selfimprove_assets.lib.settings import Settings

if TYPE_CHECKING:
    MonitorRules = ThresholdRules = PromotionRules = CurationRules = CorpusRules = dg.Config
else:
    MonitorRules = derived_config("MonitorRules", MonitorSettings, "required")
    ThresholdRules = derived_config("ThresholdRules", ThresholdSettings, "required")
    PromotionRules = derived_config("PromotionRules", PromotionSettings, "required")
    CurationRules = derived_config("CurationRules", CurationSettings, "required")
    CorpusRules = derived_config("CorpusRules", CorpusSettings, "required")


class LoopRules(dg.ConfigurableResource):
    """The loop's rules in effect, from ``selfimprove.toml`` and ``SELFIMPROVE_*`` variables
    over the defaults. Change them there (see ``selfimprove.example.toml``), not in code."""

    config_file: str = Field(description="The selfimprove.toml that was read ('' for none).")
    monitor: MonitorRules
    thresholds: ThresholdRules
    promotion: PromotionRules
    curation: CurationRules
    corpus: CorpusRules

    @classmethod
    def from_settings(cls, settings: Settings) -> "LoopRules":
        rules = settings.rules()
        return cls(
            config_file=str(settings.config_file or ""),
            monitor=MonitorRules(**rules["monitor"]),
            thresholds=ThresholdRules(**rules["thresholds"]),
            promotion=PromotionRules(**rules["promotion"]),
            curation=CurationRules(**rules["curation"]),
            corpus=CorpusRules(**rules["corpus"]),
        )

    def monitor_settings(self) -> MonitorSettings:
        return section_of(MonitorSettings, self.monitor)

    def threshold_settings(self) -> ThresholdSettings:
        return section_of(ThresholdSettings, self.thresholds)

    def promotion_settings(self) -> PromotionSettings:
        return section_of(PromotionSettings, self.promotion)

    def curation_settings(self) -> CurationSettings:
        return section_of(CurationSettings, self.curation)

    def corpus_settings(self) -> CorpusSettings:
        return section_of(CorpusSettings, self.corpus)

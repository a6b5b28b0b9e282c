"""How thresholds are set when a version becomes the default: one config for V1 and promotions."""

import dagster as dg
from pydantic import Field

from selfimprove_assets.lib.promotion.policy import DEFAULT_THRESHOLD_FLOOR


class ThresholdConfig(dg.Config):
    threshold_margin: float = Field(
        default=0.05,
        description="Thresholds = the new default's golden-set field accuracy minus this margin.",
    )
    threshold_floor: float = Field(
        default=DEFAULT_THRESHOLD_FLOOR,
        description="The lowest threshold a field gets: the team's quality target. A default "
        "below it keeps collecting corrections into retrains (the sensor's evidence rules "
        "still apply) until a candidate reaches it.",
    )

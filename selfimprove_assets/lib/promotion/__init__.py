"""The promotion gate and threshold re-basing (plain Python)."""

from selfimprove_assets.lib.promotion.policy import (
    TRIGGER_FIELDS,
    PolicyError,
    PromotionDecision,
    PromotionPolicy,
    decide,
    rebase_thresholds,
)

__all__ = [
    "TRIGGER_FIELDS",
    "PolicyError",
    "PromotionDecision",
    "PromotionPolicy",
    "decide",
    "rebase_thresholds",
]

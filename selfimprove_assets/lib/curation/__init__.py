"""Targeted retraining sets from committed feedback, and feedback quality checks."""

from selfimprove_assets.lib.curation.frame import CurationError
from selfimprove_assets.lib.curation.quality import (
    QualityConfig,
    QualityReport,
    ReviewerStat,
    find_suspicious_feedback,
)
from selfimprove_assets.lib.curation.result import (
    ClassifierCurationConfig,
    CuratedRow,
    CurationResult,
    ExtractorCurationConfig,
    curation_config,
    replay_count,
    sample_replay,
)
from selfimprove_assets.lib.curation.sampling import (
    curate_classifier,
    curate_extractor,
    sample_retraining_set,
)

__all__ = [
    "ClassifierCurationConfig",
    "CuratedRow",
    "CurationError",
    "CurationResult",
    "ExtractorCurationConfig",
    "QualityConfig",
    "QualityReport",
    "ReviewerStat",
    "curate_classifier",
    "curate_extractor",
    "curation_config",
    "find_suspicious_feedback",
    "replay_count",
    "sample_replay",
    "sample_retraining_set",
]

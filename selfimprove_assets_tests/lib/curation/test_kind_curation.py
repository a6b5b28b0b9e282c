"""Each model kind curates with its own settings and sampler, chosen by its level."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.curation import (
    ClassifierCurationConfig,
    ExtractorCurationConfig,
    curate_classifier,
    curate_extractor,
    curation_config,
    sample_retraining_set,
)
from selfimprove_assets.lib.kinds import CLASSIFIER, EXTRACTOR
from selfimprove_assets_tests.lib.curation.conftest import feedback_frame


def test_each_kind_curates_with_its_own_config_and_sampler() -> None:
    knobs = {
        "bucket_rates": {"low": 1.0, "medium": 0.5, "high": 0.0},
        "focus_underperforming": False,
        "non_corrected_sample_ratio": 0.25,
        "replay_share": 0.1,
        "holdout_fraction": 0.2,
        "seed": 3,
        "exclude_suspicious": False,
    }
    cls_config = curation_config(CLASSIFIER, knobs)
    ext_config = curation_config(EXTRACTOR, knobs)
    assert isinstance(cls_config, ClassifierCurationConfig)
    assert isinstance(ext_config, ExtractorCurationConfig)
    assert cls_config.non_corrected_sample_ratio == 0.25 and cls_config.seed == 3
    assert ext_config.bucket_rates["high"] == 0.0 and not ext_config.focus_underperforming

    frame = feedback_frame(80, seed=4)
    assert sample_retraining_set(CLASSIFIER, frame, [], cls_config).train_ids == (
        curate_classifier(frame, cls_config).train_ids
    )
    assert sample_retraining_set(EXTRACTOR, frame, ["total"], ext_config).train_ids == (
        curate_extractor(frame, ["total"], ext_config).train_ids
    )
    with pytest.raises(TypeError, match="ExtractorCurationConfig"):
        sample_retraining_set(EXTRACTOR, frame, [], cls_config)

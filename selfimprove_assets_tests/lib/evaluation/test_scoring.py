from __future__ import annotations

import pytest

from selfimprove_assets.lib.evaluation.scoring import learnt_something, trivial_headline
from selfimprove_assets.lib.types import TrainingExample


def _examples(types: list[str]) -> list[TrainingExample]:
    return [
        TrainingExample(f"d{i}", t, ["a"], [(0, 0, 1, 1)], [0], ["O"]) for i, t in enumerate(types)
    ]


def test_a_model_must_beat_one_that_learnt_nothing() -> None:
    golden = _examples(["invoice"] * 6 + ["referral"] * 3 + ["lab_report"])
    assert trivial_headline("classifier", golden) == pytest.approx(0.6)
    assert trivial_headline("extractor", golden) == 0.0
    assert learnt_something("classifier", 0.9, golden) is None
    # a collapsed classifier answers one type: the majority share at best
    message = learnt_something("classifier", 0.6, golden)
    assert message is not None and "0.600" in message and "learnt nothing" in message
    # a collapsed extractor predicts only O: entity F1 0
    assert learnt_something("extractor", 0.0, golden) is not None
    assert learnt_something("extractor", 0.4, golden) is None

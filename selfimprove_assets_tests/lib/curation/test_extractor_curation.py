from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove_assets.lib.curation import CurationError, ExtractorCurationConfig, curate_extractor
from selfimprove_assets.lib.curation.frame import entity_precision, outcome_totals, round_half_up
from selfimprove_assets_tests.lib.curation.conftest import feedback_frame


def _errors(outcomes: dict, label: str) -> bool:
    c = outcomes.get(label, {})
    return c.get("modified", 0) + c.get("added", 0) + c.get("removed", 0) > 0


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(10, 150),
    seed=st.integers(0, 10_000),
    focus=st.sampled_from([[], ["total"], ["name", "date"]]),
    rates=st.tuples(*(st.sampled_from([0.0, 0.3, 0.6, 1.0]) for _ in range(3))),
)
def test_extractor_bucket_quotas_and_focus(
    n: int, seed: int, focus: list[str], rates: tuple[float, float, float]
) -> None:
    df = feedback_frame(n, seed=seed)
    cfg = ExtractorCurationConfig(
        bucket_rates=dict(zip(("low", "medium", "high"), rates, strict=True)),
        seed=seed,
        exclude_suspicious=False,
    )
    try:
        result = curate_extractor(df, focus, cfg)
    except CurationError:
        return
    train, hold = set(result.train_ids), set(result.holdout_ids)
    assert not train & hold
    assert len(hold) == round_half_up(cfg.holdout_fraction * len(df))
    rest = df.loc[~df["feedback_id"].isin(list(hold))].copy()
    rest["precision"] = [entity_precision(outcome_totals(o, 0)) for o in rest["field_outcomes"]]
    rest["bucket"] = [cfg.bucket_of(p) for p in rest["precision"]]
    rest["is_focus"] = [any(_errors(o, lbl) for lbl in focus) for o in rest["field_outcomes"]]
    entity_errors = [any(_errors(o, lbl) for lbl in o) for o in rest["field_outcomes"]]
    is_error = rest["corrected"] | pd.Series(entity_errors, index=rest.index)
    errors = rest.loc[is_error]
    # focus rows are always kept
    assert set(errors.loc[errors["is_focus"], "feedback_id"]) <= train
    for bucket, rate in cfg.bucket_rates.items():
        group = errors.loc[errors["bucket"] == bucket]
        expected = max(round_half_up(rate * len(group)), int(group["is_focus"].sum()))
        chosen = group["feedback_id"].isin(list(train)).sum()
        assert chosen == expected == result.counts["bucket"][bucket]
    reasons = result.reasons
    for fid in errors.loc[errors["is_focus"], "feedback_id"]:
        assert reasons[int(fid)].startswith("focus:")
    n_selected = sum(result.counts["bucket"].values())
    context = [r for r in result.train if r.reason == "context"]
    available = int((~is_error).sum())
    assert len(context) == min(
        round_half_up(cfg.non_corrected_sample_ratio * n_selected), available
    )
    error_ids = set(rest.loc[is_error, "feedback_id"])
    assert all(r.feedback_id not in error_ids for r in context)


def test_bucket_rates_hold_in_expectation() -> None:
    df = feedback_frame(600, seed=2, error_rate=0.6)
    cfg = ExtractorCurationConfig(holdout_fraction=0.0, exclude_suspicious=False)
    result = curate_extractor(df, [], cfg)
    for bucket, rate in cfg.bucket_rates.items():
        available = result.counts["bucket_available"][bucket]
        assert available > 20
        assert result.counts["bucket"][bucket] == pytest.approx(rate * available, abs=0.5)
    assert any(r.reason == "corrected:bucket=low" for r in result.train)


def test_precision_buckets_and_undefined_precision() -> None:
    cfg = ExtractorCurationConfig()
    assert cfg.bucket_of(0.5) == "low" and cfg.bucket_of(0.6) == "medium"
    assert cfg.bucket_of(0.85) == "high"
    only_added = {"x": {"unchanged": 0, "modified": 0, "added": 2, "removed": 0}}
    assert entity_precision(only_added) == 0.0
    assert entity_precision({}) == 1.0


def test_extractor_errors_name_the_input() -> None:
    df = feedback_frame(20, seed=1)
    with pytest.raises(CurationError, match="field_outcomes"):
        curate_extractor(df.drop(columns=["field_outcomes"]), [])
    bad = df.copy()
    bad.at[0, "field_outcomes"] = {"name": {"unchanged": 1, "wrong": 2}}
    with pytest.raises(CurationError, match="feedback_id 1 has unknown keys"):
        curate_extractor(bad, [])
    clean = df.assign(
        corrected=False,
        field_outcomes=[{"name": {"unchanged": 1}} for _ in range(len(df))],
    )
    with pytest.raises(CurationError, match="no corrected"):
        curate_extractor(clean, ["name"])
    with pytest.raises(ValueError, match="bucket_rates"):
        ExtractorCurationConfig(bucket_rates={"low": 1.0})


def test_extractor_explains_itself_and_is_deterministic() -> None:
    df = feedback_frame(200, seed=9)
    a = curate_extractor(df, ["total", "unknown_label"])
    b = curate_extractor(df.sample(frac=1.0, random_state=3), ["total", "unknown_label"])
    assert a.to_dict() == b.to_dict()
    assert "unknown_label" in a.explanations["focus"]
    assert {"bucket=low", "bucket=medium", "bucket=high", "context", "holdout"} <= set(
        a.explanations
    )
    assert a.counts["label_errors"]["total"] > 0
    assert isinstance(pd.Series(a.reasons).iloc[0], str)

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from selfimprove_assets.lib.curation import (
    ClassifierCurationConfig,
    CurationError,
    curate_classifier,
    replay_count,
    sample_replay,
)
from selfimprove_assets.lib.curation.frame import balanced_allocation, round_half_up
from selfimprove_assets_tests.lib.curation.conftest import feedback_frame


def _holdout_is_most_recent(df: pd.DataFrame, holdout: set[int], pool: pd.DataFrame) -> None:
    for _, group in pool.groupby("verified_doc_type"):
        held = group.loc[group["feedback_id"].isin(list(holdout))]
        kept = group.loc[~group["feedback_id"].isin(list(holdout))]
        if len(held) and len(kept):
            assert held["committed_at"].min() >= kept["committed_at"].max()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(5, 120),
    seed=st.integers(0, 10_000),
    ratio=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    holdout=st.sampled_from([0.0, 0.1, 0.2, 0.3]),
    retrained=st.sampled_from([0.0, 0.2]),
)
def test_classifier_curation_properties(
    n: int, seed: int, ratio: float, holdout: float, retrained: float
) -> None:
    df = feedback_frame(n, seed=seed, retrained_rate=retrained)
    cfg = ClassifierCurationConfig(
        non_corrected_sample_ratio=ratio, holdout_fraction=holdout, seed=seed,
        exclude_suspicious=False,
    )  # fmt: skip
    pool = df.loc[~df["retrained"]]
    try:
        result = curate_classifier(df, cfg)
    except CurationError:
        event("nothing to train on")
        held = round_half_up(holdout * len(pool))
        assert pool["corrected"].sum() == 0 or held >= 1  # only when nothing is left to train on
        return
    event("curated")
    train, hold = set(result.train_ids), set(result.holdout_ids)
    assert not train & hold
    assert len(result.train_ids) == len(train)
    assert len(hold) == round_half_up(holdout * len(pool))
    assert hold <= set(pool["feedback_id"])
    _holdout_is_most_recent(df, hold, pool)
    rest = pool.loc[~pool["feedback_id"].isin(list(hold))]
    # every corrected row not yet retrained (and not held out) is in
    corrected_ids = set(rest.loc[rest["corrected"], "feedback_id"])
    assert {r.feedback_id for r in result.train if r.reason == "corrected"} == corrected_ids
    assert not train & set(df.loc[df["retrained"], "feedback_id"])
    # non-corrected sample = ratio x corrected (capped), balanced by type
    context = rest.loc[rest["feedback_id"].isin(list(train)) & ~rest["corrected"]]
    available = rest.loc[~rest["corrected"]].groupby("verified_doc_type").size()
    wanted = min(round_half_up(ratio * len(corrected_ids)), int(available.sum()))
    assert len(context) == wanted
    per_class = context.groupby("verified_doc_type").size().reindex(available.index, fill_value=0)
    uncapped = per_class[per_class < available]
    if len(uncapped):
        assert per_class.max() <= uncapped.min() + 1
    assert result.replay_count == replay_count(len(train), cfg.replay_share)


def test_deterministic_and_independent_of_row_order() -> None:
    df = feedback_frame(150, seed=3)
    cfg = ClassifierCurationConfig(non_corrected_sample_ratio=0.5, seed=11)
    a = curate_classifier(df, cfg)
    b = curate_classifier(df.sample(frac=1.0, random_state=1), cfg)
    assert a.to_dict() == b.to_dict()
    c = curate_classifier(df, ClassifierCurationConfig(non_corrected_sample_ratio=0.5, seed=12))
    assert c.train_ids != a.train_ids


def test_explanations_and_counts() -> None:
    result = curate_classifier(feedback_frame(200, seed=5))
    assert {"holdout", "corrected", "context", "replay"} <= set(result.explanations)
    assert sum(result.counts["class"].values()) == len(result.train)
    assert result.counts["reason"]["corrected"] == sum(
        r.reason == "corrected" for r in result.train
    )


def test_clear_errors() -> None:
    df = feedback_frame(30, seed=1)
    with pytest.raises(CurationError, match="empty"):
        curate_classifier(df.iloc[0:0])
    with pytest.raises(CurationError, match="missing columns.*reviewer"):
        curate_classifier(df.drop(columns=["reviewer"]))
    with pytest.raises(CurationError, match="no corrected"):
        curate_classifier(df.assign(corrected=False))
    with pytest.raises(CurationError, match="no corrected"):
        curate_classifier(df.assign(retrained=True))
    with pytest.raises(CurationError, match="unique"):
        curate_classifier(pd.concat([df, df]))
    with pytest.raises(ValueError, match="holdout_fraction"):
        ClassifierCurationConfig(holdout_fraction=1.0)


def test_replay() -> None:
    assert replay_count(80, 0.2) == 20  # 20 / (80 + 20) == 0.2
    assert replay_count(10, 0.0) == 0
    ids = [f"d{i}" for i in range(50)]
    picked = sample_replay(ids, 10, seed=1)
    assert len(set(picked)) == 10 and set(picked) <= set(ids)
    assert picked == sample_replay(list(reversed(ids)), 10, seed=1)
    assert sample_replay(ids[:3], 10) == ["d0", "d1", "d2"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 30)), st.integers(0, 120))
def test_balanced_allocation(available: dict[str, int], total: int) -> None:
    alloc = balanced_allocation(available, total)
    assert sum(alloc.values()) == min(total, sum(available.values()))
    assert all(0 <= alloc[k] <= available[k] for k in available)
    uncapped = [alloc[k] for k in available if alloc[k] < available[k]]
    if uncapped:
        assert max(alloc.values()) <= min(uncapped) + 1

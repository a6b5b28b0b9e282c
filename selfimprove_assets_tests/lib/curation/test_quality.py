from __future__ import annotations

from selfimprove_assets.lib.curation import (
    ClassifierCurationConfig,
    QualityConfig,
    curate_classifier,
    find_suspicious_feedback,
)
from selfimprove_assets_tests.lib.curation.conftest import feedback_frame


def test_reviewer_with_outlying_correction_rate_is_flagged() -> None:
    df = feedback_frame(300, seed=4, error_rate=0.1)
    df["reviewer"] = ["alice", "bob", "carol"][0:3] * 100
    carol = df["reviewer"] == "carol"
    df.loc[carol, "corrected"] = [i % 10 < 8 for i in range(int(carol.sum()))]  # 80% vs ~10%
    report = find_suspicious_feedback(df)
    stats = {s.reviewer: s for s in report.reviewers}
    assert stats["carol"].flagged and stats["carol"].z is not None and stats["carol"].z > 3
    assert not stats["alice"].flagged and not stats["bob"].flagged
    flagged_rows = df.loc[df["feedback_id"].isin(list(report.flagged))]
    assert set(flagged_rows["reviewer"]) == {"carol"} and bool(flagged_rows["corrected"].all())
    assert "carol" in next(iter(report.flagged.values()))

    result = curate_classifier(df, ClassifierCurationConfig())
    assert not set(result.train_ids) & set(report.flagged)
    assert set(result.excluded) == set(report.flagged)


def test_small_reviewers_are_not_judged() -> None:
    df = feedback_frame(60, seed=4, error_rate=0.1)
    df["reviewer"] = ["alice"] * 55 + ["dan"] * 5
    df.loc[df["reviewer"] == "dan", "corrected"] = True
    report = find_suspicious_feedback(df, QualityConfig(reviewer_min_count=20))
    assert not report.flagged


def test_correction_contradicting_near_identical_documents() -> None:
    df = feedback_frame(10, seed=1, error_rate=0.0)
    df["fingerprint"] = None
    df.loc[0:4, "fingerprint"] = "abc123"
    df.loc[0:4, "verified_doc_type"] = "invoice"
    df.loc[4, ["verified_doc_type", "corrected"]] = ["letter", True]
    report = find_suspicious_feedback(df)
    assert list(report.flagged) == [5]
    assert "4 of 5 near-identical" in report.flagged[5]
    # without a clear majority nothing is flagged
    df.loc[2:3, "verified_doc_type"] = "letter"
    assert not find_suspicious_feedback(df).flagged

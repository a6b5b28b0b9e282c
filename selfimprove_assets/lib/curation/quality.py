"""Flag feedback that is more likely a reviewer's mistake than a model's.

Retraining on wrong corrections teaches the model the mistake, so curation drops what these
checks flag (and lists it, so a person can look). Two signals, both cheap and explainable:

* **Reviewer outliers.** A reviewer whose correction rate is far above everyone else's on the
  same model is either seeing a different stream or correcting things that were right. We
  test each reviewer's proportion against the pooled rate of the *other* reviewers with a
  two-proportion z-test (pooled variance); reviewers with fewer than ``reviewer_min_count``
  rows are not judged. Only that reviewer's *corrections* are flagged: accepting a prediction
  cannot inject a wrong label the model did not already produce.
* **Contradicted corrections.** Near-identical documents (same ``fingerprint``: a content hash
  or a normalized-text fingerprint supplied by the store) should get the same type. A
  correction whose verified type disagrees with a clear majority (at least
  ``majority_share`` of at least ``fingerprint_min_group`` such documents) is flagged.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from selfimprove_assets.lib.curation.frame import CurationError

logger = logging.getLogger(__name__)


@dataclass
class QualityConfig:
    reviewer_min_count: int = 20
    reviewer_z: float = 3.0
    fingerprint_min_group: int = 3
    majority_share: float = 2 / 3

    def __post_init__(self) -> None:
        if self.reviewer_min_count < 1 or self.fingerprint_min_group < 2:
            raise ValueError("reviewer_min_count must be >= 1 and fingerprint_min_group >= 2")
        if not 0.5 < self.majority_share <= 1.0:
            raise ValueError(f"majority_share must be in (0.5, 1], got {self.majority_share}")


@dataclass(frozen=True)
class ReviewerStat:
    reviewer: str
    n: int
    corrected: int
    rate: float
    others_rate: float | None
    z: float | None
    flagged: bool


@dataclass
class QualityReport:
    flagged: dict[int, str] = field(default_factory=dict)
    reviewers: list[ReviewerStat] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagged": {str(k): v for k, v in self.flagged.items()},
            "reviewers": [vars(r) for r in self.reviewers],
        }


def _two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float | None:
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return None
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (x1 / n1 - x2 / n2) / se


def reviewer_outliers(df: pd.DataFrame, config: QualityConfig) -> list[ReviewerStat]:
    """Correction rate, z against the other reviewers, and the verdict, per reviewer."""
    grouped = df.groupby("reviewer", sort=True)["corrected"].agg(["size", "sum"])
    total_n, total_x = int(grouped["size"].sum()), int(grouped["sum"].sum())
    stats: list[ReviewerStat] = []
    for reviewer, row in grouped.iterrows():
        n, x = int(row["size"]), int(row["sum"])
        n_o, x_o = total_n - n, total_x - x
        z = _two_proportion_z(x, n, x_o, n_o) if n_o > 0 else None
        flagged = n >= config.reviewer_min_count and z is not None and z > config.reviewer_z
        stats.append(
            ReviewerStat(str(reviewer), n, x, x / n, x_o / n_o if n_o else None, z, flagged)
        )
    return stats


def find_suspicious_feedback(
    df: pd.DataFrame, config: QualityConfig | None = None
) -> QualityReport:
    """Flagged feedback ids with the reason for each (see the module docstring).

    The ``fingerprint`` column is optional; without it only the reviewer check runs.
    """
    config = config or QualityConfig()
    needed = ["feedback_id", "reviewer", "corrected", "verified_doc_type"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise CurationError(f"feedback DataFrame is missing columns for quality checks: {missing}")
    report = QualityReport()
    if df.empty:
        return report
    frame = df.assign(corrected=df["corrected"].astype(bool))
    reasons: dict[int, list[str]] = defaultdict(list)

    report.reviewers = reviewer_outliers(frame, config)
    for stat in report.reviewers:
        if not stat.flagged:
            continue
        ids = frame.loc[(frame["reviewer"] == stat.reviewer) & frame["corrected"], "feedback_id"]
        for fid in ids:
            reasons[int(fid)].append(
                f"reviewer {stat.reviewer!r} corrects {stat.rate:.0%} of {stat.n} rows vs "
                f"{stat.others_rate:.0%} for the others (z={stat.z:.1f})"
            )

    if "fingerprint" in frame.columns:
        with_fp = frame.loc[frame["fingerprint"].notna()]
        # Almost every fingerprint is a singleton: visit only groups large enough to vote.
        sizes = with_fp.groupby("fingerprint")["feedback_id"].transform("size")
        with_fp = with_fp.loc[sizes >= config.fingerprint_min_group]
        for fp, group in with_fp.groupby("fingerprint", sort=True):
            if len(group) < config.fingerprint_min_group:
                continue
            shares = group["verified_doc_type"].value_counts()
            majority, votes = str(shares.index[0]), int(shares.iloc[0])
            if votes / len(group) < config.majority_share:
                continue
            odd = group.loc[group["corrected"] & (group["verified_doc_type"] != majority)]
            for _, row in odd.iterrows():
                reasons[int(row["feedback_id"])].append(
                    f"corrected to {row['verified_doc_type']!r} but {votes} of {len(group)} "
                    f"near-identical documents (fingerprint {str(fp)[:12]}) are {majority!r}"
                )

    report.flagged = {fid: "; ".join(r) for fid, r in sorted(reasons.items())}
    if report.flagged:
        logger.info("quality checks flagged %d feedback rows", len(report.flagged))
    return report

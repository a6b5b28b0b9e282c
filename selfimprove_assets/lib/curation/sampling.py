"""Targeted retraining sets built from committed feedback.

Order of operations (the same for both model types), chosen so that evaluation stays honest:

1. drop rows already used for retraining (``retrained``) and rows the quality checks flag;
2. set aside the **holdout**: the most recent ``holdout_fraction`` of the remaining rows,
   stratified by verified type — before any training row is drawn, so it never overlaps;
3. draw training rows from what is left:

   * classifier — every corrected row, plus correct ("context") rows, ``ratio × corrected``
     of them, spread evenly over the verified types so that no class is forgotten;
   * extractor — corrected rows stratified by per-document entity precision (low / medium /
     high buckets, each sampled at its rate); rows with errors on the under-performing labels
     named by the trigger are always kept; plus ``ratio × selected`` context rows, balanced
     by type;
4. size the **replay** of original training data to ``replay_share`` of the final set.

:func:`sample_retraining_set` runs the sampler of a model kind: document-level kinds the
classifier's, entity-level kinds the extractor's.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from selfimprove_assets.lib.curation.frame import (
    BASE_COLUMNS,
    EXTRACTOR_COLUMNS,
    CurationError,
    balanced_allocation,
    outcome_features,
    round_half_up,
    sample_rows,
    select_holdout,
    validate_feedback,
)
from selfimprove_assets.lib.curation.quality import QualityConfig, find_suspicious_feedback
from selfimprove_assets.lib.curation.result import (
    BUCKETS,
    ClassifierCurationConfig,
    CuratedRow,
    CurationConfig,
    CurationResult,
    ExtractorCurationConfig,
    curation_config_type,
    replay_count,
)
from selfimprove_assets.lib.kinds import ModelKind, kind_of

logger = logging.getLogger(__name__)


def _prepare(
    frame: pd.DataFrame,
    exclude_suspicious: bool,
    quality: QualityConfig,
    holdout_fraction: float,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, str], dict[str, str]]:
    """Steps 1-2: the pool minus used and flagged rows, and the holdout taken from it."""
    excluded = find_suspicious_feedback(frame, quality).flagged if exclude_suspicious else {}
    pool = frame.loc[~frame["retrained"] & ~frame["feedback_id"].isin(list(excluded))]
    explanations: dict[str, str] = {}
    if excluded:
        explanations["excluded"] = (
            f"{len(excluded)} rows flagged by the feedback quality checks were left out"
        )
    if not bool(pool["is_error"].any()):
        raise CurationError(
            f"no corrected feedback rows to retrain on: {len(frame)} rows, "
            f"{int(frame['retrained'].sum())} already retrained, {len(excluded)} flagged"
        )
    holdout = select_holdout(pool, holdout_fraction, "verified_doc_type")
    by_type = holdout["verified_doc_type"].value_counts().sort_index()
    explanations["holdout"] = (
        f"{len(holdout)} most recent of {len(pool)} eligible rows "
        f"({holdout_fraction:.0%}) held out for evaluation, by type: "
        + (", ".join(f"{k} {v}" for k, v in by_type.items()) or "none")
    )
    rest = pool.loc[~pool["feedback_id"].isin(holdout["feedback_id"])]
    if not bool(rest["is_error"].any()):
        raise CurationError(
            f"all {int(pool['is_error'].sum())} corrected rows fell into the holdout; "
            "lower holdout_fraction or wait for more feedback"
        )
    return rest, holdout, excluded, explanations


def _context_rows(
    rest: pd.DataFrame, n_wanted: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Non-corrected rows spread evenly over verified types (capped by what exists)."""
    correct = rest.loc[~rest["is_error"]]
    available = {str(k): int(v) for k, v in correct.groupby("verified_doc_type").size().items()}
    alloc = balanced_allocation(available, n_wanted)
    parts = [
        sample_rows(group, alloc[str(key)], rng)
        for key, group in correct.groupby("verified_doc_type", sort=True)
        if alloc[str(key)] > 0
    ]
    chosen = pd.concat(parts) if parts else correct.iloc[0:0]
    return chosen, alloc


def _rows(frame: pd.DataFrame, reason: str | pd.Series) -> list[CuratedRow]:
    reasons = reason if isinstance(reason, pd.Series) else pd.Series(reason, index=frame.index)
    return [
        CuratedRow(int(fid), str(doc), str(reasons[idx]))
        for idx, fid, doc in zip(
            frame.index, frame["feedback_id"], frame["document_id"], strict=True
        )
    ]


def _finish(
    model_type: str,
    train: list[CuratedRow],
    holdout: pd.DataFrame,
    frame_by_id: pd.DataFrame,
    share: float,
    counts: dict[str, dict[str, int]],
    explanations: dict[str, str],
    excluded: dict[int, str],
    config: dict[str, Any],
) -> CurationResult:
    train.sort(key=lambda r: r.feedback_id)
    n_replay = replay_count(len(train), share)
    explanations["replay"] = (
        f"draw {n_replay} documents from the original training set so they are "
        f"{share:.0%} of the {len(train) + n_replay} training examples"
    )
    types = frame_by_id.loc[[r.feedback_id for r in train], "verified_doc_type"]
    counts["class"] = dict(sorted(Counter(str(t) for t in types).items()))
    counts["reason"] = dict(sorted(Counter(r.reason for r in train).items()))
    counts["split"] = {"train": len(train), "holdout": len(holdout), "excluded": len(excluded)}
    result = CurationResult(
        model_type=model_type,
        train=train,
        holdout_ids=[int(i) for i in holdout["feedback_id"]],
        replay_count=n_replay,
        counts=counts,
        explanations=explanations,
        excluded=excluded,
        config=config,
    )
    logger.info("%s curation: %s", model_type, counts["split"])
    return result


def curate_classifier(
    df: pd.DataFrame, config: ClassifierCurationConfig | None = None
) -> CurationResult:
    """Classifier set: all corrected rows + ``ratio × corrected`` class-balanced correct rows."""
    config = config or ClassifierCurationConfig()
    frame = validate_feedback(df, BASE_COLUMNS)
    frame = frame.assign(is_error=frame["corrected"])
    rest, holdout, excluded, explanations = _prepare(
        frame, config.exclude_suspicious, config.quality, config.holdout_fraction
    )
    rng = np.random.default_rng(config.seed)
    corrected = rest.loc[rest["is_error"]]
    wanted = round_half_up(config.non_corrected_sample_ratio * len(corrected))
    context, alloc = _context_rows(rest, wanted, rng)
    explanations["corrected"] = f"all {len(corrected)} corrected rows not yet retrained"
    explanations["context"] = (
        f"{len(context)} correct rows (wanted {config.non_corrected_sample_ratio:g} x "
        f"{len(corrected)} = {wanted}), balanced by type: "
        + ", ".join(f"{k} {v}" for k, v in alloc.items() if v)
    )
    train = _rows(corrected, "corrected") + _rows(context, "context")
    counts = {"context_by_class": {k: v for k, v in alloc.items() if v}}
    return _finish(
        "classifier", train, holdout, frame.set_index("feedback_id"), config.replay_share, counts,
        explanations, excluded, config.to_dict(),
    )  # fmt: skip


def curate_extractor(
    df: pd.DataFrame,
    underperforming_labels: list[str],
    config: ExtractorCurationConfig | None = None,
) -> CurationResult:
    """Extractor set: precision-bucket sample of corrected rows, focus rows, context rows.

    Within a bucket of ``n`` corrected rows the quota is ``round(rate × n)``; focus rows
    (errors on an under-performing label) in that bucket are always kept and count toward
    the quota, the rest of the quota is a uniform draw — so a bucket yields
    ``max(quota, focus rows)`` rows.
    """
    config = config or ExtractorCurationConfig()
    frame = validate_feedback(df, EXTRACTOR_COLUMNS)
    outcomes = outcome_features(frame["field_outcomes"], frame["feedback_id"])
    frame = frame.assign(
        is_error=frame["corrected"].to_numpy(dtype=bool) | outcomes.has_error,
        precision=outcomes.precision,
        error_labels=outcomes.error_labels,
    )
    rest, holdout, excluded, explanations = _prepare(
        frame, config.exclude_suspicious, config.quality, config.holdout_fraction
    )
    rng = np.random.default_rng(config.seed)
    focus = set(underperforming_labels) if config.focus_underperforming else set()
    corrected = rest.loc[rest["is_error"]].assign(
        bucket=lambda f: [config.bucket_of(p) for p in f["precision"]],
        focus=lambda f: [sorted(focus.intersection(e)) for e in f["error_labels"]],
    )
    parts: list[pd.DataFrame] = []
    bucket_counts: dict[str, int] = {}
    available: dict[str, int] = {}
    for bucket in BUCKETS:
        group = corrected.loc[corrected["bucket"] == bucket]
        is_focus = pd.Series([bool(f) for f in group["focus"]], index=group.index)
        quota = round_half_up(config.bucket_rates[bucket] * len(group))
        kept = group.loc[is_focus]
        drawn = sample_rows(group.loc[~is_focus], max(0, quota - len(kept)), rng)
        reasons = pd.concat(
            [
                pd.Series(
                    ["focus:" + ",".join(f) for f in kept["focus"]], index=kept.index, dtype=object
                ),
                pd.Series(f"corrected:bucket={bucket}", index=drawn.index),
            ]
        )
        parts.append(pd.concat([kept, drawn]).assign(reason=reasons))
        available[bucket], bucket_counts[bucket] = len(group), len(kept) + len(drawn)
        explanations[f"bucket={bucket}"] = (
            f"{bucket} precision bucket: {bucket_counts[bucket]} of {len(group)} corrected rows "
            f"(rate {config.bucket_rates[bucket]:g}, quota {quota}, {len(kept)} focus rows kept)"
        )
    selected = pd.concat(parts)
    wanted = round_half_up(config.non_corrected_sample_ratio * len(selected))
    context, alloc = _context_rows(rest, wanted, rng)
    explanations["context"] = (
        f"{len(context)} rows without corrections for context (wanted "
        f"{config.non_corrected_sample_ratio:g} x {len(selected)} = {wanted}), balanced by type"
    )
    unknown = sorted(set(underperforming_labels) - outcomes.labels)
    explanations["focus"] = (
        f"under-performing labels {sorted(underperforming_labels)}: "
        + ("rows with errors on them always kept" if focus else "focus disabled")
        + (f"; never seen in feedback: {unknown}" if unknown else "")
    )
    label_counts: Counter[str] = Counter()
    for labels in selected["error_labels"]:
        label_counts.update(labels)
    counts = {
        "bucket": bucket_counts,
        "bucket_available": available,
        "label_errors": dict(sorted(label_counts.items())),
        "context_by_class": {k: v for k, v in alloc.items() if v},
    }
    reasons_all = pd.Series(selected["reason"], index=selected.index)
    train = _rows(selected, reasons_all) + _rows(context, "context")
    settings = {**config.to_dict(), "underperforming_labels": list(underperforming_labels)}
    return _finish(
        "extractor", train, holdout, frame.set_index("feedback_id"), config.replay_share, counts,
        explanations, excluded, settings,
    )  # fmt: skip


def sample_retraining_set(
    model_type: str | ModelKind,
    frame: pd.DataFrame,
    underperforming: list[str],
    config: CurationConfig,
) -> CurationResult:
    """Draw a kind's retraining set from committed feedback (``underperforming``: fields below
    their threshold, the labels an entity-level kind focuses on); ``config`` must be the kind's
    own curation settings (:func:`curation_config_type`)."""
    kind = kind_of(model_type)
    cls = curation_config_type(kind)
    if not isinstance(config, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"the {kind.name} curates with {article} {cls.__name__}, not {config}")
    if isinstance(config, ExtractorCurationConfig):
        return curate_extractor(frame, underperforming, config)
    return curate_classifier(frame, config)

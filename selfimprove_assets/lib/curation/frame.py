"""Input checks and the small allocation helpers both curations share.

Everything here is deterministic: rows are ordered by ``feedback_id`` before any random draw,
so the same rows and seed give the same dataset whatever order the store returned them in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from selfimprove_assets.lib.types import FieldOutcome

BASE_COLUMNS: tuple[str, ...] = (
    "feedback_id",
    "document_id",
    "model_version",
    "reviewer",
    "corrected",
    "predicted_doc_type",
    "verified_doc_type",
    "retrained",
    "committed_at",
)
EXTRACTOR_COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, "field_outcomes")
OUTCOME_KEYS: tuple[str, ...] = tuple(o.value for o in FieldOutcome)
ERROR_KEYS: tuple[str, ...] = ("modified", "added", "removed")


class CurationError(ValueError):
    """The feedback cannot yield a retraining set; the message says which input and why."""


def round_half_up(x: float) -> int:
    """Round like a person would (2.5 -> 3); Python's ``round`` is banker's rounding."""
    return int(math.floor(x + 0.5))


def validate_feedback(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Check the columns and ids, and return a copy sorted by ``feedback_id``."""
    if not isinstance(df, pd.DataFrame):
        raise CurationError(f"feedback must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CurationError(f"feedback DataFrame is missing columns: {missing}")
    if df.empty:
        raise CurationError("feedback DataFrame is empty: no committed feedback to curate from")
    if bool(df["feedback_id"].duplicated().any()):
        dupes = df.loc[df["feedback_id"].duplicated(), "feedback_id"].tolist()[:5]
        raise CurationError(f"feedback_id must be unique, duplicated: {dupes}")
    out = df.copy()
    out["feedback_id"] = out["feedback_id"].astype(int)
    out["corrected"] = out["corrected"].astype(bool)
    out["retrained"] = out["retrained"].astype(bool)
    out["committed_at"] = pd.to_datetime(out["committed_at"], utc=True)
    if bool(out["verified_doc_type"].isna().any()):
        bad = out.loc[out["verified_doc_type"].isna(), "feedback_id"].tolist()[:5]
        raise CurationError(f"verified_doc_type is missing for feedback_id {bad}")
    return out.sort_values("feedback_id", kind="stable").reset_index(drop=True)


def outcome_totals(field_outcomes: object, feedback_id: int) -> dict[str, dict[str, int]]:
    """Validate one row's ``field_outcomes`` and fill missing outcome keys with 0."""
    if field_outcomes is None or (isinstance(field_outcomes, float) and math.isnan(field_outcomes)):
        return {}
    if not isinstance(field_outcomes, Mapping):
        raise CurationError(
            f"field_outcomes of feedback_id {feedback_id} must be a dict label -> counts, "
            f"got {type(field_outcomes).__name__}"
        )
    out: dict[str, dict[str, int]] = {}
    for label, counts in field_outcomes.items():
        if not isinstance(counts, Mapping):
            raise CurationError(
                f"field_outcomes[{label!r}] of feedback_id {feedback_id} is not a dict"
            )
        unknown = set(counts) - set(OUTCOME_KEYS)
        if unknown:
            raise CurationError(
                f"field_outcomes[{label!r}] of feedback_id {feedback_id} has unknown keys "
                f"{sorted(unknown)}; expected {list(OUTCOME_KEYS)}"
            )
        values = {k: int(counts.get(k, 0)) for k in OUTCOME_KEYS}
        if any(v < 0 for v in values.values()):
            raise CurationError(f"negative count in field_outcomes of feedback_id {feedback_id}")
        out[str(label)] = values
    return out


def entity_precision(outcomes: Mapping[str, Mapping[str, int]]) -> float:
    """unchanged / (unchanged + modified + removed) over all labels of a document.

    A document where the model predicted nothing but the reviewer added entities has no
    defined precision; it is scored 0.0 (nothing right was predicted), so it lands in the low
    bucket with the other badly served documents instead of looking perfect.
    """
    u = sum(c["unchanged"] for c in outcomes.values())
    predicted = u + sum(c["modified"] + c["removed"] for c in outcomes.values())
    if predicted == 0:
        added = sum(c["added"] for c in outcomes.values())
        return 0.0 if added > 0 else 1.0
    return u / predicted


@dataclass(frozen=True)
class OutcomeFeatures:
    """What curation reads from ``field_outcomes``, one entry per row (see below)."""

    has_error: np.ndarray  # bool: a modified, added or removed entity on some label
    precision: np.ndarray  # float: :func:`entity_precision`
    error_labels: list[list[str]]  # the labels with an error, sorted (rows may share a list)
    labels: frozenset[str]  # every label that occurs in any row


def outcome_features(
    field_outcomes: Iterable[object], feedback_ids: Iterable[int]
) -> OutcomeFeatures:
    """:func:`outcome_totals`, error labels and :func:`entity_precision` of every row.

    Each is computed once per distinct *object*: the store decodes each distinct stored value
    once and hands the same dict to all rows that hold it, so the monitor benchmark's 500k rows
    cost 29k validations instead of 500k. Rows holding equal but separate dicts are simply computed
    separately; identity is a safe key because every object stays referenced meanwhile.
    An invalid value is reported with the feedback id of the first row that holds it.
    """
    values = list(field_outcomes)
    ids = list(feedback_ids)
    if len(values) != len(ids):
        raise CurationError(f"{len(values)} field_outcomes for {len(ids)} feedback ids")
    codes, _ = pd.factorize(np.fromiter((id(v) for v in values), dtype=np.int64, count=len(ids)))
    _, first = np.unique(codes, return_index=True)  # first row of each code, in code order
    has_error, precision, error_labels = [], [], []
    labels: set[str] = set()
    for row in first.tolist():
        totals = outcome_totals(values[row], int(ids[row]))
        errors = sorted(lbl for lbl, c in totals.items() if sum(c[k] for k in ERROR_KEYS) > 0)
        has_error.append(bool(errors))
        precision.append(entity_precision(totals))
        error_labels.append(errors)
        labels.update(totals)
    return OutcomeFeatures(
        has_error=np.asarray(has_error, dtype=bool)[codes],
        precision=np.asarray(precision, dtype=float)[codes],
        error_labels=[error_labels[c] for c in codes.tolist()],
        labels=frozenset(labels),
    )


def largest_remainder(quotas: Mapping[str, float], total: int) -> dict[str, int]:
    """Integer shares summing to ``total`` that follow fractional ``quotas`` (Hamilton)."""
    floors = {k: int(math.floor(q)) for k, q in quotas.items()}
    rest = total - sum(floors.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - floors[k]), k))
    for k in order[: max(0, rest)]:
        floors[k] += 1
    return floors


def balanced_allocation(available: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` draws as evenly as possible across classes, capped by availability.

    Water-filling: every class gets the same share, classes that run out give their unused
    share to the others. Shares differ by at most one among classes that are not capped.
    """
    remaining = min(total, sum(available.values()))
    alloc = dict.fromkeys(available, 0)
    order = sorted((k for k, v in available.items() if v > 0), key=lambda k: (available[k], k))
    for i, k in enumerate(order):  # smallest classes first, so their unused share flows on
        alloc[k] = min(available[k], remaining // (len(order) - i))
        remaining -= alloc[k]
    for k in sorted((k for k in order if alloc[k] < available[k]), key=lambda k: (alloc[k], k)):
        if remaining == 0:
            break
        alloc[k] += 1
        remaining -= 1
    return alloc


def sample_rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows without replacement, in feedback_id order (the frame is already sorted)."""
    if n >= len(frame):
        return frame
    picks = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[picks]


def select_holdout(pool: pd.DataFrame, fraction: float, stratum: str) -> pd.DataFrame:
    """The most recent ``fraction`` of ``pool``, stratified by ``stratum`` where possible.

    The total is ``round(fraction * len(pool))``; each stratum gets its proportional share
    (largest remainder), filled with its most recently committed rows. Recency matters: the
    slice stands for the production data the retrained model will meet next.
    """
    total = round_half_up(fraction * len(pool))
    if total == 0:
        return pool.iloc[0:0]
    sizes = pool.groupby(stratum, sort=True).size()
    quotas = {str(k): fraction * int(v) for k, v in sizes.items()}
    shares = largest_remainder(quotas, total)
    parts = []
    for key, group in pool.groupby(stratum, sort=True):
        n = shares[str(key)]
        if n:
            recent = group.sort_values(["committed_at", "feedback_id"], ascending=False)
            parts.append(recent.head(n))
    return pd.concat(parts).sort_values("feedback_id")

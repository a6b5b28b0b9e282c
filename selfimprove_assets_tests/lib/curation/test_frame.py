"""``outcome_features``: per-row figures computed once per distinct outcome object."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfimprove_assets.lib.curation.frame import (
    ERROR_KEYS,
    CurationError,
    entity_precision,
    outcome_features,
    outcome_totals,
)


def _reference(values: list[object]) -> tuple[list[bool], list[float], list[list[str]], set[str]]:
    totals = [outcome_totals(v, i) for i, v in enumerate(values)]
    errors = [sorted(k for k, c in t.items() if sum(c[e] for e in ERROR_KEYS)) for t in totals]
    return (
        [bool(e) for e in errors],
        [entity_precision(t) for t in totals],
        errors,
        {label for t in totals for label in t},
    )


def test_outcome_features_equal_the_per_row_functions_with_shared_and_separate_values() -> None:
    rng = np.random.default_rng(3)
    pool: list[object] = [None, math.nan, {}]
    for _ in range(40):
        pool.append(
            {
                label: {k: int(rng.integers(0, 3)) for k in ("unchanged", "modified", "added")}
                for label in rng.choice(["name", "date", "total", "mrn"], size=2, replace=False)
            }
        )
    # rows share pool objects (as the store's decoded dicts are shared) and some hold copies
    values = [
        pool[int(i)] if rng.random() < 0.7 else _copy(pool[int(i)])
        for i in rng.integers(0, len(pool), 500)
    ]
    features = outcome_features(values, range(len(values)))
    has_error, precision, errors, labels = _reference(values)
    assert features.has_error.tolist() == has_error
    assert features.precision.tolist() == precision
    assert features.error_labels == errors
    assert features.labels == labels
    assert features.has_error.dtype == bool and features.precision.dtype == float


def _copy(value: object) -> object:
    return {k: dict(v) for k, v in value.items()} if isinstance(value, dict) else value


def test_outcome_features_report_a_bad_value_with_the_first_row_holding_it() -> None:
    good = {"name": {"unchanged": 1}}
    bad = {"name": {"unchanged": 1, "wrong": 2}}
    with pytest.raises(CurationError, match="feedback_id 11 has unknown keys"):
        outcome_features([good, bad, good, bad], [10, 11, 12, 13])
    with pytest.raises(CurationError, match="2 field_outcomes for 1 feedback ids"):
        outcome_features([good, good], [1])


def test_outcome_features_of_no_rows() -> None:
    features = outcome_features([], [])
    assert len(features.has_error) == len(features.precision) == 0
    assert features.error_labels == [] and features.labels == frozenset()

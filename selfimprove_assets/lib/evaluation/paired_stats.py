"""The statistics of a paired comparison: bootstrap resamples of documents, percentile
intervals, micro-F1 from resampled sums, and McNemar's test (exact and mid-p).

``compare`` applies them to default and candidate records; they know nothing of models.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, binomtest

# Largest replicates × documents matrix built at once; larger resamples come in blocks.
_MAX_BLOCK_CELLS = 2_000_000


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Bootstrap resamples as count matrices (replicates × documents), in memory blocks."""
    block = max(1, _MAX_BLOCK_CELLS // max(n, 1))
    out, done = [], 0
    while done < n_boot:
        size = min(block, n_boot - done)
        out.append(rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64))
        done += size
    return out


def interval(samples: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval of the finite replicates; (None, None) when there are none."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (None, None)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return (float(lo), float(hi))


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, NaN where ``den`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def micro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from summed counts (NaN when there is nothing to find and nothing found)."""
    return safe_ratio(2 * tp, 2 * tp + fp + fn)


def mcnemar(b: int, c: int) -> dict[str, float]:
    """One-sided McNemar for "candidate better": ``b`` = only default right, ``c`` = only
    candidate right. Returns exact and mid-p values, and the two-sided exact p."""
    n = b + c
    if n == 0:
        return {"p_exact": 1.0, "p_mid": 1.0, "p_two_sided": 1.0}
    exact = float(binomtest(c, n, 0.5, alternative="greater").pvalue)
    mid = exact - 0.5 * float(binom.pmf(c, n, 0.5))
    two = float(binomtest(c, n, 0.5, alternative="two-sided").pvalue)
    return {"p_exact": exact, "p_mid": mid, "p_two_sided": two}

"""The statistics of a paired comparison: McNemar's exact and mid-p values."""

from __future__ import annotations

import numpy as np
import pytest

from selfimprove_assets.lib.evaluation.paired_stats import mcnemar


def test_mcnemar_known_values() -> None:
    only_candidate = mcnemar(b=0, c=10)
    assert only_candidate["p_exact"] == pytest.approx(0.5**10)
    assert only_candidate["p_mid"] == pytest.approx(0.5**10 / 2)
    assert only_candidate["p_two_sided"] == pytest.approx(2 * 0.5**10)
    assert mcnemar(b=10, c=0)["p_exact"] == pytest.approx(1.0)
    assert mcnemar(0, 0) == {"p_exact": 1.0, "p_mid": 1.0, "p_two_sided": 1.0}
    # 3 vs 8 discordant: P(X >= 8 | n=11) = (165 + 55 + 11 + 1) / 2048
    assert mcnemar(3, 8)["p_exact"] == pytest.approx(232 / 2048)


def test_mcnemar_mid_p_keeps_its_level_under_the_null() -> None:
    rng = np.random.default_rng(0)
    discordant = rng.binomial(40, 0.5, size=4000)
    p_mid = {c: mcnemar(40 - c, c)["p_mid"] for c in range(41)}
    rejections = np.mean([p_mid[int(c)] < 0.05 for c in discordant])
    assert rejections < 0.07

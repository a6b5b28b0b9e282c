"""Which trained epoch a run keeps, and when it stops early.

The kept model is the best *trained* epoch on validation, never the untouched start: a warm
start whose epochs all score worse than the parent on validation still yields a real
candidate, and the evaluation (golden set + production slice) decides whether it beats the
parent. The best epoch is kept on any gain, but only a real gain (``is_real_gain``, over the
start and the best so far) resets the patience. Without a validation split the last epoch is
kept and the run never stops early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selfimprove_assets.lib.models.recipe import TrainConfig, is_real_gain, selection_score


@dataclass
class EpochSelection:
    config: TrainConfig
    start_loss: float
    validating: bool
    best: tuple[float, float] | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def observe(self, epoch: int, record: dict[str, float]) -> bool:
        """Record an epoch's figures; whether it is now the epoch to keep."""
        if not self.validating:
            self.best_epoch = epoch
            return True
        score = selection_score(record, self.config.select_on)
        if self.best is not None and score <= self.best:
            self.bad_epochs += 1
            return False
        start = (0.0, -self.start_loss)
        reference = start if self.best is None else max(self.best, start)
        improved = is_real_gain(score, reference, self.config)
        self.best, self.best_loss, self.best_epoch = score, record["val_loss"], epoch
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        return True

    def should_stop(self, step: int) -> bool:
        """Early stopping: ``patience`` epochs without a real gain, after ``min_steps``."""
        return (
            self.validating
            and self.bad_epochs >= self.config.patience
            and step >= self.config.min_steps
        )

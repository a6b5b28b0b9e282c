"""Curation settings, the curated set, and the replay draw.

The configs take their knobs and defaults from the ``[curation]`` section
(``lib.defaults.CurationSettings``, declared once); the curation assets' launchpad is derived
from the same section, and the failure path of the loop (adjust ratios, re-run) only changes
data, not code. A
document-level kind (the classifier) curates with :class:`ClassifierCurationConfig`, an
entity-level kind (the extractor) with :class:`ExtractorCurationConfig`
(:func:`curation_config_type`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import Field

from selfimprove_assets.lib.curation.quality import QualityConfig
from selfimprove_assets.lib.defaults import BUCKETS as BUCKETS  # re-exported for sampling
from selfimprove_assets.lib.defaults import CurationSettings
from selfimprove_assets.lib.kinds import ModelKind, kind_of


def _check_fraction(name: str, value: float, *, upper_open: bool = False) -> None:
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not ok:
        raise ValueError(f"{name} must be in [0, {'1)' if upper_open else '1]'}, got {value}")


# The extractor's own knobs: the classifier's curation ignores them.
EXTRACTOR_KNOBS = ("bucket_rates", "bucket_edges", "focus_underperforming")


class ClassifierCurationConfig(CurationSettings):
    """The classifier's curation: the ``[curation]`` knobs (``lib.defaults``), declared and
    defaulted there once, and the quality checks."""

    quality: QualityConfig = Field(default_factory=QualityConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict_config(self, exclude=EXTRACTOR_KNOBS)


class ExtractorCurationConfig(ClassifierCurationConfig):
    """Bucket edges split documents by entity precision: low < e0 <= medium < e1 <= high."""

    def to_dict(self) -> dict[str, Any]:
        return asdict_config(self)

    def bucket_of(self, precision: float) -> str:
        lo, hi = self.bucket_edges
        return "low" if precision < lo else "medium" if precision < hi else "high"


def asdict_config(
    config: ClassifierCurationConfig, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A curation config as plain values (recorded with the curated set)."""
    values = {k: getattr(config, k) for k in type(config).model_fields if k not in exclude}
    values["quality"] = asdict(config.quality)
    for key, value in values.items():
        if isinstance(value, tuple):
            values[key] = list(value)
        elif isinstance(value, Mapping):
            values[key] = dict(value)
    return values


CurationConfig = ClassifierCurationConfig | ExtractorCurationConfig


def curation_config_type(
    model_type: str | ModelKind,
) -> type[ClassifierCurationConfig] | type[ExtractorCurationConfig]:
    """The class of a kind's curation settings: entity-level kinds draw by entity precision."""
    if kind_of(model_type).entity_level:
        return ExtractorCurationConfig
    return ClassifierCurationConfig


def curation_config(model_type: str | ModelKind, knobs: Mapping[str, Any]) -> CurationConfig:
    """The kind's curation settings from operator knobs (those it does not use ignored)."""
    cls = curation_config_type(model_type)
    return cls(**{k: v for k, v in knobs.items() if k in cls.model_fields})


@dataclass(frozen=True)
class CuratedRow:
    feedback_id: int
    document_id: str
    reason: str


@dataclass
class CurationResult:
    """The curated retraining set and why each row is in it.

    ``replay_count`` rows are to be drawn from the original training set (with
    :func:`sample_replay`) so that old knowledge keeps ``replay_share`` of the final set.
    """

    model_type: str
    train: list[CuratedRow]
    holdout_ids: list[int]
    replay_count: int
    counts: dict[str, dict[str, int]]
    explanations: dict[str, str]
    excluded: dict[int, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def train_ids(self) -> list[int]:
        return [r.feedback_id for r in self.train]

    @property
    def reasons(self) -> dict[int, str]:
        return {r.feedback_id: r.reason for r in self.train}

    def reason_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason for r in self.train).items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "train": [asdict(r) for r in self.train],
            "holdout_ids": list(self.holdout_ids),
            "replay_count": self.replay_count,
            "counts": self.counts,
            "explanations": self.explanations,
            "excluded": {str(k): v for k, v in self.excluded.items()},
            "config": self.config,
        }


def replay_count(feedback_rows: int, replay_share: float) -> int:
    """Rows of original training data so that they are ``replay_share`` of the final set.

    final = feedback + replay and replay = share * final, so replay = share / (1 - share) *
    feedback, rounded half up.
    """
    _check_fraction("replay_share", replay_share, upper_open=True)
    if feedback_rows < 0:
        raise ValueError("feedback_rows must be >= 0")
    return int(replay_share / (1 - replay_share) * feedback_rows + 0.5)


def sample_replay(ids: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """Pick ``n`` distinct ids of the original training set (all of them when fewer exist).

    The ids are sorted first so the draw depends only on the set of ids and the seed.
    """
    if n < 0:
        raise ValueError(f"replay count must be >= 0, got {n}")
    pool = sorted(set(ids))
    if n >= len(pool):
        return pool
    return sorted(random.Random(seed).sample(pool, n))

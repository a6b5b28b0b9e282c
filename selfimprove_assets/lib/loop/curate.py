"""Curation: the targeted retraining set a candidate learns from, and the recent production
slice it is judged on; opens the cycle and claims the rows (through ``cycle``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from selfimprove_assets.lib.curation.result import CurationConfig, sample_replay
from selfimprove_assets.lib.curation.sampling import sample_retraining_set
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.feedback.examples import feedback_examples
from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.models.dataset import read_dataset, write_dataset
from selfimprove_assets.lib.store.repository import FeedbackStore

TRIGGER_TAG_PREFIX = "selfimprove/"


def underperforming(
    thresholds: Mapping[str, float], figures: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """The fields whose live accuracy is below their threshold: what must improve."""
    out = []
    for name, counts in figures.items():
        n = sum(counts.get(k, 0) for k in ("unchanged", "modified", "added", "removed"))
        if n and counts.get("unchanged", 0) / n < thresholds.get(name, 0.0):
            out.append(name)
    return sorted(out)


@dataclass
class RetrainingSet:
    """What the candidate step needs (``to_dict`` is the asset's value) and what it shows."""

    cycle_id: str
    attempt: int
    parent_version: str
    train_path: Path
    holdout_path: Path | None
    train_hash: str
    holdout_hash: str
    trigger_fields: list[str]
    excluded: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return cycle.attempt_name(self.cycle_id, self.attempt)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "attempt": self.attempt,
            "parent_version": self.parent_version,
            "train_path": str(self.train_path),
            "holdout_path": str(self.holdout_path) if self.holdout_path else None,
            "train_hash": self.train_hash,
            "holdout_hash": self.holdout_hash,
            "trigger_fields": self.trigger_fields,
            "excluded": self.excluded,
        }


def curate(
    store: FeedbackStore,
    model_type: str,
    config: CurationConfig,
    *,
    pages_dir: Path,
    datasets_dir: Path,
    initial_training_set: str,
    run_id: str | None = None,
    run_tags: Mapping[str, str] | None = None,
) -> RetrainingSet:
    """Curate from the committed feedback of the current default, open the cycle (the next
    attempt of an open one), claim its rows and write the train and holdout datasets.

    Raises ``cycle.NoDefaultModel`` (nothing written) and ``CurationError`` (the state is
    INPROGRESS, no cycle opened: the failed run's sensor calls ``cycle.fail``).
    """
    default = store.models.get_default(model_type)
    if default is None:
        raise cycle.NoDefaultModel(
            f"no default {model_type}: materialize {model_type}_baseline first"
        )
    cycle.begin(store, model_type)
    rows = store.curation.curation_rows(model_type, default.version)
    frame = pd.DataFrame(rows)
    under = underperforming(
        default.thresholds, store.counters.live_counters(model_type, default.version)
    )
    result = sample_retraining_set(model_type, frame, under, config)
    tags = {k: v for k, v in (run_tags or {}).items() if k.startswith(TRIGGER_TAG_PREFIX)}
    opened = cycle.start(
        store,
        model_type,
        default.version,
        trigger_tags=tags,
        run_id=run_id,
        feedback_ids=result.train_ids + result.holdout_ids,
    )

    pages = PageStore(pages_dir)
    by_id = {r["feedback_id"]: r for r in rows}
    reasons = result.reasons
    train_examples, skipped = feedback_examples(
        store,
        pages,
        [by_id[i] | {"reason": reasons[i]} for i in result.train_ids],
        source="feedback",
    )
    holdout_examples, skipped_h = feedback_examples(
        store, pages, [by_id[i] for i in result.holdout_ids], source="holdout"
    )
    original = read_dataset(initial_training_set)
    replay_ids = set(
        sample_replay([e.document_id for e in original], result.replay_count, config.seed)
    )
    replay = [e for e in original if e.document_id in replay_ids]
    for example in replay:
        example.source = "replay"
    base = f"{opened.cycle_id}-a{opened.attempt}"
    datasets_dir.mkdir(parents=True, exist_ok=True)
    train_path = datasets_dir / f"{base}-train.parquet"
    holdout_path = datasets_dir / f"{base}-holdout.parquet"
    train_hash = write_dataset(train_path, train_examples + replay)
    holdout_hash = write_dataset(holdout_path, holdout_examples) if holdout_examples else ""
    composition = Counter(reasons[i].split(":")[0] for i in result.train_ids)
    return RetrainingSet(
        cycle_id=opened.cycle_id,
        attempt=opened.attempt,
        parent_version=default.version,
        train_path=train_path,
        holdout_path=holdout_path if holdout_examples else None,
        train_hash=train_hash,
        holdout_hash=holdout_hash,
        trigger_fields=under,
        excluded={str(k): v for k, v in result.excluded.items()},
        figures={
            "train_rows": len(train_examples) + len(replay),
            "feedback_rows": len(train_examples),
            "replay_rows": len(replay),
            "holdout_rows": len(holdout_examples),
            "excluded_suspicious": len(result.excluded),
            "skipped_missing_pages": len(skipped) + len(skipped_h),
            "composition": dict(composition),
            "counts": result.counts,
            "explanations": dict(result.explanations),
            "doc_types": dict(Counter(e.doc_type for e in train_examples + replay)),
        },
    )

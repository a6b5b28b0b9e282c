"""Targeted retraining sets: what the candidate learns from, and the production slice it is
judged on. Operators change the curation config in the launchpad and re-materialize."""

from collections import Counter
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from selfimprove_assets.defs.feedback.sensors import MODEL_TYPE_TAG
from selfimprove_assets.defs.resources import FeedbackStoreResource, SelfimproveHome
from selfimprove_assets.lib.curation.frame import CurationError
from selfimprove_assets.lib.curation.result import (
    ClassifierCurationConfig,
    ExtractorCurationConfig,
    sample_replay,
)
from selfimprove_assets.lib.curation.sampling import curate_classifier, curate_extractor
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.feedback.examples import feedback_examples
from selfimprove_assets.lib.models.dataset import read_dataset, write_dataset
from selfimprove_assets.lib.types import RetrainState


class RetrainingSetConfig(dg.Config):
    non_corrected_sample_ratio: float = Field(
        default=1.0, description="Correct rows drawn per corrected row (anti-forgetting)."
    )
    replay_share: float = Field(
        default=0.3, description="Share of the final set replayed from the original training set."
    )
    holdout_fraction: float = Field(
        default=0.25, description="Most recent production rows held out for evaluation."
    )
    bucket_rate_low: float = Field(
        default=1.0, description="Extractor: rate for low-precision docs."
    )
    bucket_rate_medium: float = Field(default=0.7, description="Extractor: medium-precision rate.")
    bucket_rate_high: float = Field(default=0.4, description="Extractor: high-precision rate.")
    focus_underperforming: bool = Field(
        default=True, description="Extractor: always keep errors on under-performing labels."
    )
    exclude_suspicious: bool = Field(
        default=True, description="Leave out feedback the quality checks flag."
    )
    seed: int = Field(default=0, description="Sampling seed.")


def _lib_config(model_type: str, config: RetrainingSetConfig) -> Any:
    if model_type == "classifier":
        return ClassifierCurationConfig(
            non_corrected_sample_ratio=config.non_corrected_sample_ratio,
            replay_share=config.replay_share,
            holdout_fraction=config.holdout_fraction,
            seed=config.seed,
            exclude_suspicious=config.exclude_suspicious,
        )
    return ExtractorCurationConfig(
        bucket_rates={
            "low": config.bucket_rate_low,
            "medium": config.bucket_rate_medium,
            "high": config.bucket_rate_high,
        },
        focus_underperforming=config.focus_underperforming,
        non_corrected_sample_ratio=config.non_corrected_sample_ratio,
        replay_share=config.replay_share,
        holdout_fraction=config.holdout_fraction,
        seed=config.seed,
        exclude_suspicious=config.exclude_suspicious,
    )


def _underperforming(thresholds: dict[str, float], figures: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for name, counts in figures.items():
        n = sum(counts.get(k, 0) for k in ("unchanged", "modified", "added", "removed"))
        if n and counts.get("unchanged", 0) / n < thresholds.get(name, 0.0):
            out.append(name)
    return sorted(out)


def build_retraining_set_asset(model_type: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{model_type}_retraining_set",
        group_name=f"{model_type}_loop",
        kinds={"pandas", "parquet"},
        deps=[f"{model_type}_accuracy"],
        ins={"initial_training_set": dg.AssetIn()},
        tags={MODEL_TYPE_TAG: model_type},
        description=f"Curated {model_type} retraining set from committed corrections of the "
        "current default, plus replay from the original training set and a held-out slice "
        "of recent production data.",
    )
    def _retraining_set(
        context: dg.AssetExecutionContext,
        config: RetrainingSetConfig,
        initial_training_set: str,
        home: SelfimproveHome,
        store: FeedbackStoreResource,
    ) -> dict[str, Any]:
        feedback = store.get()
        default = feedback.get_default(model_type)
        if default is None:
            raise dg.Failure(f"no default {model_type}: materialize {model_type}_baseline first")
        trigger = dict(context.run.tags)
        feedback.set_retrain_state(model_type, RetrainState.INPROGRESS, reason="curating")
        rows = feedback.curation_rows(model_type, default.version)
        frame = pd.DataFrame(rows)
        lib_config = _lib_config(model_type, config)
        # The fields below their threshold: the extractor's focus, and what must improve.
        under = _underperforming(
            default.thresholds, feedback.live_counters(model_type, default.version)
        )
        try:
            if model_type == "classifier":
                result = curate_classifier(frame, lib_config)
            else:
                result = curate_extractor(frame, under, lib_config)
        except CurationError as exc:
            raise dg.Failure(f"cannot curate a {model_type} retraining set: {exc}") from exc
        cycle = feedback.open_cycle(
            model_type,
            default.version,
            {"tags": {k: v for k, v in trigger.items() if k.startswith("selfimprove/")}},
        )
        feedback.update_cycle(cycle.cycle_id, cycle.attempt, dagster_run_id=context.run.run_id)
        feedback.mark_retrained(result.train_ids + result.holdout_ids, cycle.cycle_id)

        pages = PageStore(home.settings.pages_dir)
        by_id = {r["feedback_id"]: r for r in rows}
        reasons = result.reasons
        train_examples, skipped = feedback_examples(
            feedback,
            pages,
            [by_id[i] | {"reason": reasons[i]} for i in result.train_ids],
            source="feedback",
        )
        holdout_examples, skipped_h = feedback_examples(
            feedback, pages, [by_id[i] for i in result.holdout_ids], source="holdout"
        )
        original = read_dataset(initial_training_set)
        replay_ids = set(
            sample_replay([e.document_id for e in original], result.replay_count, config.seed)
        )
        replay = [e for e in original if e.document_id in replay_ids]
        for example in replay:
            example.source = "replay"
        base = f"{cycle.cycle_id}-a{cycle.attempt}"
        train_path = home.path("datasets", model_type, f"{base}-train.parquet")
        holdout_path = home.path("datasets", model_type, f"{base}-holdout.parquet")
        train_hash = write_dataset(train_path, train_examples + replay)
        holdout_hash = write_dataset(holdout_path, holdout_examples) if holdout_examples else ""
        composition = Counter(reasons[i].split(":")[0] for i in result.train_ids)
        explain = "\n".join(f"- **{k}**: {v}" for k, v in result.explanations.items())
        context.add_output_metadata(
            {
                "cycle": cycle.cycle_id,
                "attempt": cycle.attempt,
                "parent_version": default.version,
                "train_rows": len(train_examples) + len(replay),
                "feedback_rows": len(train_examples),
                "replay_rows": len(replay),
                "holdout_rows": len(holdout_examples),
                "excluded_suspicious": len(result.excluded),
                "skipped_missing_pages": len(skipped) + len(skipped_h),
                "content_hash": train_hash,
                "composition": dg.MetadataValue.json(dict(composition)),
                "counts": dg.MetadataValue.json(result.counts),
                "why": dg.MetadataValue.md(explain or "_no explanation_"),
                "doc_types": dg.MetadataValue.json(
                    dict(Counter(e.doc_type for e in train_examples + replay))
                ),
            }
        )
        return {
            "cycle_id": cycle.cycle_id,
            "attempt": cycle.attempt,
            "parent_version": default.version,
            "train_path": str(train_path),
            "holdout_path": str(holdout_path) if holdout_examples else None,
            "train_hash": train_hash,
            "holdout_hash": holdout_hash,
            "trigger_fields": under,
            "excluded": {str(k): v for k, v in result.excluded.items()},
        }

    return _retraining_set


retraining_set_assets = [build_retraining_set_asset(t) for t in ("classifier", "extractor")]

"""Targeted retraining sets: what the candidate learns from, and the production slice it is
judged on. Operators change the curation config in the launchpad and re-materialize."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.resources import FeedbackStoreResource, SelfimproveHome
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.lib.curation.frame import CurationError
from selfimprove_assets.lib.curation.result import curation_config
from selfimprove_assets.lib.loop.curate import curate
from selfimprove_assets.lib.loop.cycle import NoDefaultModel
from selfimprove_assets.lib.types import MODEL_TYPES


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
    """The kind's curation settings from the launchpad's knobs (each kind takes its own)."""
    knobs = config.model_dump()
    knobs["bucket_rates"] = {
        "low": config.bucket_rate_low,
        "medium": config.bucket_rate_medium,
        "high": config.bucket_rate_high,
    }
    return curation_config(model_type, knobs)


def build_retraining_set_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(
        model_type,
        "retraining_set",
        stage_deps=["accuracy"],
        kinds={"pandas", "parquet"},
        shared_inputs=["initial_training_set"],
    )
    def _retraining_set(
        context: dg.AssetExecutionContext,
        config: RetrainingSetConfig,
        initial_training_set: str,
        home: SelfimproveHome,
        store: FeedbackStoreResource,
    ) -> dict[str, Any]:
        """Curated {model_type} retraining set from committed corrections of the current
        default, plus replay from the original training set and a held-out slice of recent
        production data."""
        try:
            curated = curate(
                store.get(),
                model_type,
                _lib_config(model_type, config),
                pages_dir=home.pages_dir,
                datasets_dir=Path(home.home, "datasets", model_type),
                initial_training_set=initial_training_set,
                run_id=context.run.run_id,
                run_tags=context.run.tags,
            )
        except (NoDefaultModel, CurationError) as exc:
            raise dg.Failure(f"cannot curate a {model_type} retraining set: {exc}") from exc
        figures = curated.figures
        explain = "\n".join(f"- **{k}**: {v}" for k, v in figures["explanations"].items())
        context.add_output_metadata(
            {
                "cycle": curated.cycle_id,
                "attempt": curated.attempt,
                "attempt_name": curated.name,
                "parent_version": curated.parent_version,
                **{
                    k: figures[k]
                    for k in (
                        "train_rows",
                        "feedback_rows",
                        "replay_rows",
                        "holdout_rows",
                        "excluded_suspicious",
                        "skipped_missing_pages",
                    )
                },
                "content_hash": curated.train_hash,
                "composition": dg.MetadataValue.json(figures["composition"]),
                "counts": dg.MetadataValue.json(figures["counts"]),
                "why": dg.MetadataValue.md(explain or "_no explanation_"),
                "doc_types": dg.MetadataValue.json(figures["doc_types"]),
            }
        )
        return curated.to_dict()

    return _retraining_set


retraining_set_assets = [build_retraining_set_asset(t) for t in MODEL_TYPES]

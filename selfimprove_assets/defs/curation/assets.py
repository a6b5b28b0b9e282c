"""Targeted retraining sets: what the candidate learns from, and the production slice it is
judged on. Operators change the curation config in the launchpad and re-materialize; a field
left unset there takes the ``[curation]`` settings in effect."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from selfimprove_assets.defs.resources import FeedbackStoreResource, SelfimproveHome
from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.schema import derived_config, overridden
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.lib.curation.frame import CurationError
from selfimprove_assets.lib.curation.result import curation_config
from selfimprove_assets.lib.defaults import CurationSettings
from selfimprove_assets.lib.loop.curate import curate
from selfimprove_assets.lib.loop.cycle import NoDefaultModel
from selfimprove_assets.lib.types import MODEL_TYPES

if TYPE_CHECKING:
    RetrainingSetConfig = dg.Config
else:  # the [curation] section's fields, unset: the settings in effect (the rules resource)
    RetrainingSetConfig = derived_config(
        "RetrainingSetConfig", CurationSettings, "launchpad", name="curation"
    )


def _lib_config(model_type: str, config: Any, curation: CurationSettings) -> Any:
    """The kind's curation settings: ``curation`` (the settings in effect) with the
    launchpad's set fields over it (each kind takes its own knobs)."""
    return curation_config(model_type, dict(overridden(curation, config)))


def build_retraining_set_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(model_type, "retraining_set")
    def _retraining_set(
        context: dg.AssetExecutionContext,
        config: RetrainingSetConfig,
        initial_training_set: str,
        home: SelfimproveHome,
        store: FeedbackStoreResource,
        rules: LoopRules,
    ) -> dict[str, Any]:
        """Curated {model_type} retraining set from committed corrections of the current
        default, plus replay from the original training set and a held-out slice of recent
        production data."""
        try:
            curated = curate(
                store.get(),
                model_type,
                _lib_config(model_type, config, rules.curation_settings()),
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

"""The rollout (or the alternate path) for a candidate, and the invariant that guards it."""

from typing import Any

import dagster as dg

from selfimprove_assets.defs.feedback.sensors import MODEL_TYPE_TAG
from selfimprove_assets.defs.resources import FeedbackStoreResource, MlflowRegistryResource
from selfimprove_assets.defs.thresholds import ThresholdConfig
from selfimprove_assets.lib.deployment import deploy_version, registry_agrees
from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY
from selfimprove_assets.lib.types import RetrainState


class PromotionConfig(ThresholdConfig):
    """The thresholds a promoted candidate starts with (see ``ThresholdConfig``)."""


def build_champion_asset(model_type: str) -> dg.Definitions:
    @dg.asset(
        name=f"{model_type}_champion",
        group_name=f"{model_type}_loop",
        kinds={"mlflow"},
        ins={"evaluation": dg.AssetIn(key=f"{model_type}_evaluation")},
        tags={MODEL_TYPE_TAG: model_type},
        description=f"The default {model_type}. A better candidate is promoted (model table + "
        "registry alias `champion`, thresholds re-based, used feedback archived); a worse one "
        "is rejected (state FAILED, its feedback released for another attempt).",
    )
    def _champion(
        context: dg.AssetExecutionContext,
        config: PromotionConfig,
        evaluation: dict[str, Any],
        store: FeedbackStoreResource,
        mlflow: MlflowRegistryResource,
    ) -> dg.MaterializeResult:
        feedback = store.get()
        cycle_id, attempt = evaluation["cycle_id"], evaluation["attempt"]
        version = evaluation["candidate_version"]
        if evaluation["decision"]["promote"]:
            golden = evaluation["comparisons"]["golden"]
            candidate_version = feedback.get_version(model_type, version)
            assert candidate_version is not None
            metrics = dict(evaluation["candidate_golden"])
            parent = feedback.get_default(model_type)
            recorded = (parent.baseline_metrics if parent else {}).get(TRAINING_DATA_KEY)
            if recorded is not None:  # serving judges whether the other model type is needed
                metrics[TRAINING_DATA_KEY] = recorded  # by it (one-type corpora)
            info = deploy_version(
                feedback,
                mlflow.client(),
                model_type=model_type,
                version=version,
                field_accuracy=evaluation["candidate_golden"]["field_accuracy"],
                metrics=metrics,
                margin=config.threshold_margin,
                floor=config.threshold_floor,
                mlflow_run_id=candidate_version.mlflow_run_id,
                parent_version=evaluation["default_version"],
                state=RetrainState.COMPLETED,
                reason=f"promoted from cycle {cycle_id} attempt {attempt}",
            )
            archived = feedback.archive_cycle(cycle_id, version)
            feedback.update_cycle(
                cycle_id, attempt, state=RetrainState.COMPLETED, decision=evaluation["decision"]
            )
            context.log.info("promoted %s v%s; archived %d rows", model_type, version, archived)
            return dg.MaterializeResult(
                metadata={
                    "outcome": "promoted",
                    "version": version,
                    "previous_version": evaluation["default_version"],
                    "archived_feedback_rows": archived,
                    "thresholds": dg.MetadataValue.json(info.thresholds),
                    "golden_overall": dg.MetadataValue.json(golden.get("overall", {})),
                }
            )
        released = feedback.release_cycle(cycle_id)
        feedback.update_cycle(
            cycle_id, attempt, state=RetrainState.FAILED, decision=evaluation["decision"]
        )
        feedback.set_retrain_state(
            model_type,
            RetrainState.FAILED,
            reason="candidate v{} rejected: {}".format(
                version, "; ".join(evaluation["decision"]["failed"])
            ),
        )
        context.log.warning("rejected %s v%s; %d rows released", model_type, version, released)
        return dg.MaterializeResult(
            metadata={
                "outcome": "rejected",
                "version": evaluation["default_version"],
                "rejected_candidate": version,
                "released_feedback_rows": released,
                "why": dg.MetadataValue.md(
                    "\n".join(f"- {r}" for r in evaluation["decision"]["failed"]) or "-"
                ),
                "next_step": "Adjust the retraining-set config in the launchpad and re-materialize "
                f"{model_type}_retraining_set, _candidate, _evaluation and _champion.",
            }
        )

    @dg.asset_check(
        asset=_champion,
        name="registry_agrees",
        description="The model table's default and the registry's `champion` alias name the same "
        "version; re-running the champion asset repairs a disagreement.",
    )
    def _agrees(
        store: FeedbackStoreResource, mlflow: MlflowRegistryResource
    ) -> dg.AssetCheckResult:
        ok, message = registry_agrees(store.get(), mlflow.client(), model_type)
        return dg.AssetCheckResult(passed=ok, description=message)

    return dg.Definitions(assets=[_champion], asset_checks=[_agrees])


champion_defs = [build_champion_asset(t) for t in ("classifier", "extractor")]

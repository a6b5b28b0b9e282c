"""The rollout (or the alternate path) for a candidate, and the invariant that guards it."""

from typing import Any

import dagster as dg

from selfimprove_assets.defs.resources import FeedbackStoreResource, MlflowRegistryResource
from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.defs.thresholds import ThresholdConfig
from selfimprove_assets.lib.deployment import registry_agrees
from selfimprove_assets.lib.loop.monitor import Rearm, rearm_status
from selfimprove_assets.lib.loop.promote import PROMOTED, Outcome, conclude
from selfimprove_assets.lib.types import MODEL_TYPES


class PromotionConfig(ThresholdConfig):
    """The thresholds a promoted candidate starts with (see ``ThresholdConfig``)."""


def build_champion_asset(model_type: str) -> dg.Definitions:
    @stage_asset(model_type, "champion")
    def _champion(
        context: dg.AssetExecutionContext,
        config: PromotionConfig,
        evaluation: dict[str, Any],
        store: FeedbackStoreResource,
        mlflow: MlflowRegistryResource,
        rules: LoopRules,
    ) -> dg.MaterializeResult:
        """The default {model_type}. A better candidate is promoted (model table + registry
        alias `champion`, thresholds re-based, used feedback archived); a worse one is rejected
        (state FAILED, its feedback released for another attempt)."""
        done = conclude(
            store.get(),
            mlflow.client(),
            model_type,
            evaluation,
            margin=config.thresholds(rules).margin,
            floor=config.thresholds(rules).floor,
        )
        if done.outcome == PROMOTED:
            context.log.info(done.summary)
            details = _promoted(done, evaluation)
        else:
            context.log.warning(done.summary)
            monitor = rules.monitor_settings()
            rearm = rearm_status(
                store.get(),
                model_type,
                rearm_ratio=monitor.rearm_ratio,
                max_attempts=monitor.max_attempts,
            )
            details = _rejected(done, evaluation, model_type, rearm)
        return dg.MaterializeResult(
            metadata={"outcome": done.outcome, "name": done.name, **details}
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


def _promoted(done: Outcome, evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": done.candidate_version,
        "previous_version": done.previous_version,
        "archived_feedback_rows": done.rows,
        "thresholds": dg.MetadataValue.json(done.thresholds),
        "golden_overall": dg.MetadataValue.json(
            evaluation["comparisons"]["golden"].get("overall", {})
        ),
    }


def _rejected(
    done: Outcome, evaluation: dict[str, Any], model_type: str, rearm: Rearm | None
) -> dict[str, Any]:
    """The rejection's metadata; ``waits_for_operator`` tells the alert sensor whether the
    loop stopped (the automatic attempts are spent) or re-arms by itself."""
    operator = (
        "Adjust the retraining-set config in the launchpad and re-materialize "
        f"{model_type}_retraining_set, _candidate, _evaluation and _champion: the next "
        "attempt of the same cycle."
    )
    waits = rearm is None or rearm.waits_for_operator
    next_step = operator
    if rearm is not None and not waits:
        next_step = (
            f"None needed: the sensor re-arms {rearm.next_name} by itself after {rearm.needed} "
            f"reviewed documents since the rejection ({rearm.reason}). Or: {operator}"
        )
    return {
        "waits_for_operator": waits,
        "rearm": dg.MetadataValue.json(rearm.to_dict() if rearm is not None else {}),
        "version": done.default_version,
        "rejected_candidate": done.candidate_version,
        "released_feedback_rows": done.rows,
        "why": dg.MetadataValue.md("\n".join(f"- {r}" for r in done.reasons) or "-"),
        "reasons": dg.MetadataValue.json(done.reasons),
        "cycle": evaluation["cycle_id"],
        "attempt": evaluation["attempt"],
        "next_step": next_step,
    }


champion_defs = [build_champion_asset(t) for t in MODEL_TYPES]

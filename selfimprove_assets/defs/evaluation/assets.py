"""The gauntlet: default and candidate side by side on the golden set and the production slice."""

from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.defs.resources import MlflowRegistryResource, SelfimproveHome
from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.defs.thresholds import PromotionPolicyConfig
from selfimprove_assets.lib.loop.evaluate import evaluate_candidate
from selfimprove_assets.lib.types import MODEL_TYPES


def build_evaluation_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(model_type, "evaluation")
    def _evaluation(
        context: dg.AssetExecutionContext,
        config: PromotionPolicyConfig,
        candidate: dict[str, Any],
        golden_test_set: str,
        home: SelfimproveHome,
        mlflow: MlflowRegistryResource,
        rules: LoopRules,
    ) -> dict[str, Any]:
        """Default vs candidate {model_type}: golden set and recent production slice, bootstrap
        intervals, paired tests, and the promotion decision with its reasons."""
        policy, n_boot = config.policy(rules)  # the rules' policy, with the run's overrides
        evaluation = evaluate_candidate(
            mlflow.tracking_uri,
            model_type,
            candidate,
            golden_test_set,
            policy,
            n_boot=n_boot,
            reports_dir=Path(home.home, "reports"),
            client=mlflow.client(),
        )
        report = evaluation.report
        scores, decision = report["scores"], report["decision"]
        verdict = "PROMOTE" if decision["promote"] else "REJECT"
        figures = {
            f"{name}_{who}": dg.MetadataValue.float(scores[name][who])
            for name in ("golden", "production")
            if name in scores
            for who in ("default", "candidate")
        }
        figures |= {  # the field automation rate at the target on the golden set
            f"automation_{who}": dg.MetadataValue.float(rate)
            for who, rate in report.get("automation", {}).items()
            if rate is not None
        }
        context.add_output_metadata(
            {
                "decision": verdict,
                "name": report["name"],
                "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision["reasons"])),
                "evaluation": dg.MetadataValue.md(evaluation.markdown()),
                **figures,
                "report_path": report["report_path"],
            }
        )
        context.log.info(
            "%s v%s (%s) vs v%s: %s",
            model_type,
            candidate["version"],
            report["name"],
            candidate["parent_version"],
            verdict,
        )
        return report

    return _evaluation


evaluation_assets = [build_evaluation_asset(t) for t in MODEL_TYPES]

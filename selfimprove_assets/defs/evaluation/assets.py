"""The gauntlet: default and candidate side by side on the golden set and the production slice."""

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.feedback.sensors import MODEL_TYPE_TAG
from selfimprove_assets.defs.resources import MlflowRegistryResource, SelfimproveHome
from selfimprove_assets.lib.deployment import score_version
from selfimprove_assets.lib.evaluation.compare import (
    ClassificationRecord,
    ComparisonReport,
    ExtractionRecord,
    compare_classification,
    compare_extraction,
)
from selfimprove_assets.lib.evaluation.scoring import ModelScore
from selfimprove_assets.lib.models.dataset import read_dataset
from selfimprove_assets.lib.promotion.policy import TRIGGER_FIELDS, PromotionPolicy, decide


class PromotionPolicyConfig(dg.Config):
    alpha: float = Field(default=0.05, description="Significance level of the paired tests.")
    golden_tolerance: float = Field(
        default=0.01, description="Largest allowed drop of the overall golden-set figure."
    )
    critical: dict[str, float] = Field(
        default_factory=dict,
        description="Critical labels/types and the largest drop each may show (e.g. npi: 0.0).",
    )
    bootstrap: int = Field(default=1000, description="Bootstrap resamples for intervals.")
    require_significant_improvement: bool = Field(
        default=True,
        description="Require the fields that triggered the retrain to improve significantly on "
        "the production slice. Off: promote on non-regression alone.",
    )
    trigger_test: Literal["pooled", "each"] = Field(
        default="pooled",
        description="pooled: one paired test of the trigger fields' combined figure, and no "
        "trigger field may drop by more than trigger_field_tolerance; each: every trigger field "
        "must improve significantly on its own (strict: a near-perfect field cannot).",
    )
    trigger_field_tolerance: float = Field(
        default=0.02,
        description="pooled test: largest drop any single trigger field may show on production.",
    )


def compare_scores(
    model_type: str,
    default: ModelScore,
    candidate: ModelScore,
    dataset: str,
    n_boot: int,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> ComparisonReport:
    if model_type == "classifier":
        records = [
            ClassificationRecord(d.document_id, d.gold_type, d.predicted_type, c.predicted_type)
            for d, c in zip(default.documents, candidate.documents, strict=True)
        ]
        return compare_classification(records, dataset=dataset, n_boot=n_boot, groups=groups)
    records_e = [
        ExtractionRecord(d.document_id, d.per_label, c.per_label, d.gold_type)
        for d, c in zip(default.documents, candidate.documents, strict=True)
    ]
    return compare_extraction(records_e, dataset=dataset, n_boot=n_boot, groups=groups)


def build_evaluation_asset(model_type: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{model_type}_evaluation",
        group_name=f"{model_type}_loop",
        kinds={"python", "mlflow"},
        ins={
            "candidate": dg.AssetIn(key=f"{model_type}_candidate"),
            "golden_test_set": dg.AssetIn(),
        },
        tags={MODEL_TYPE_TAG: model_type},
        description=f"Default vs candidate {model_type}: golden set and recent production slice, "
        "bootstrap intervals, paired tests, and the promotion decision with its reasons.",
    )
    def _evaluation(
        context: dg.AssetExecutionContext,
        config: PromotionPolicyConfig,
        candidate: dict[str, Any],
        golden_test_set: str,
        home: SelfimproveHome,
        mlflow: MlflowRegistryResource,
    ) -> dict[str, Any]:
        required = [TRIGGER_FIELDS] if config.require_significant_improvement else []
        policy = PromotionPolicy(
            alpha=config.alpha,
            golden_tolerance=config.golden_tolerance,
            critical=config.critical,
            require_significant_improvement_on=required,
            trigger_test=config.trigger_test,
            trigger_field_tolerance=config.trigger_field_tolerance,
        )
        groups = {TRIGGER_FIELDS: list(candidate["trigger_fields"])}
        uri = mlflow.tracking_uri
        reports: dict[str, ComparisonReport] = {}
        scores: dict[str, dict[str, float]] = {}
        candidate_golden: dict[str, Any] = {}
        sets = {"golden": golden_test_set, "production": candidate.get("holdout_path")}
        for name, path in sets.items():
            if not path:
                continue
            examples = read_dataset(path)
            if not examples:
                continue
            d = score_version(uri, model_type, candidate["parent_version"], examples)
            c = score_version(uri, model_type, candidate["version"], examples)
            reports[name] = compare_scores(model_type, d, c, name, config.bootstrap, groups)
            scores[name] = {"default": d.headline, "candidate": c.headline}
            if name == "golden":
                candidate_golden = c.to_dict()
        decision = decide(
            policy, reports["golden"], reports.get("production"), candidate["trigger_fields"]
        )
        report = {
            "model_type": model_type,
            "cycle_id": candidate["cycle_id"],
            "attempt": candidate["attempt"],
            "default_version": candidate["parent_version"],
            "candidate_version": candidate["version"],
            "trigger_fields": candidate["trigger_fields"],
            "policy": policy.to_dict(),
            "decision": decision.to_dict(),
            "scores": scores,
            "candidate_golden": candidate_golden,
            "comparisons": {k: v.to_dict() for k, v in reports.items()},
        }
        path = home.path(
            "reports", f"{candidate['cycle_id']}-a{candidate['attempt']}-evaluation.json"
        )
        path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        if candidate.get("run_id"):
            mlflow.client().log_dict(candidate["run_id"], report, "evaluation/report.json")
        markdown = "\n\n".join(f"### {k}\n\n{v.to_markdown()}" for k, v in reports.items())
        verdict = "PROMOTE" if decision.promote else "REJECT"
        context.add_output_metadata(
            {
                "decision": verdict,
                "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
                "evaluation": dg.MetadataValue.md(markdown),
                "golden_default": dg.MetadataValue.float(scores["golden"]["default"]),
                "golden_candidate": dg.MetadataValue.float(scores["golden"]["candidate"]),
                **(
                    {
                        "production_default": dg.MetadataValue.float(
                            scores["production"]["default"]
                        ),
                        "production_candidate": dg.MetadataValue.float(
                            scores["production"]["candidate"]
                        ),
                    }
                    if "production" in scores
                    else {}
                ),
                "report_path": str(path),
            }
        )
        context.log.info(
            "%s v%s vs v%s: %s",
            model_type,
            candidate["version"],
            candidate["parent_version"],
            verdict,
        )
        return report

    return _evaluation


evaluation_assets = [build_evaluation_asset(t) for t in ("classifier", "extractor")]

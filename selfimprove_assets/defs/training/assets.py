"""Baseline models (V1): train on the initial training set, score on the golden set, deploy.

One factory builds the asset for either model type, so the two loops share one implementation.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from selfimprove_assets.defs.resources import (
    BACKBONE_BASE,
    FeedbackStoreResource,
    MlflowRegistryResource,
    SelfimproveHome,
    TrainingJobResource,
    TrainingRequest,
)
from selfimprove_assets.lib.deployment import deploy_version, score_version
from selfimprove_assets.lib.evaluation.scoring import learnt_something
from selfimprove_assets.lib.models.dataset import read_dataset
from selfimprove_assets.lib.types import RetrainState


class BaselineConfig(dg.Config):
    threshold_margin: float = Field(
        default=0.05,
        description="Thresholds start at the golden-set field accuracy minus this margin.",
    )
    require_learning: bool = Field(
        default=True,
        description="Fail, and keep no default, when V1 scores no better on the golden set than "
        "a model that learnt nothing (majority type; no entities). Off for smoke tests on "
        "tiny models.",
    )


def build_baseline_asset(model_type: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{model_type}_baseline",
        group_name=f"{model_type}_loop",
        kinds={"pytorch", "mlflow"},
        ins={
            "initial_training_set": dg.AssetIn(),
            "golden_test_set": dg.AssetIn(),
        },
        tags={"selfimprove/model_type": model_type},
        description=f"V1 of the {model_type}: trained from the backbone on the initial training "
        "set, scored on the golden set, registered, and made the default (alias `champion`).",
    )
    def _baseline(
        context: dg.AssetExecutionContext,
        config: BaselineConfig,
        initial_training_set: str,
        golden_test_set: str,
        home: SelfimproveHome,
        store: FeedbackStoreResource,
        mlflow: MlflowRegistryResource,
        trainer: TrainingJobResource,
    ) -> dg.MaterializeResult:
        result = trainer.launch(
            context,
            TrainingRequest(
                model_type=model_type,
                dataset=Path(initial_training_set),
                base=BACKBONE_BASE,
                tracking_uri=mlflow.tracking_uri,
                artifact_root=mlflow.artifact_root,
                backbone=home.backbone,
            ),
        )
        version = str(result["version"])
        golden = read_dataset(golden_test_set)
        model_score = score_version(mlflow.tracking_uri, model_type, version, golden)
        failed = learnt_something(model_type, model_score.headline, golden)
        if failed and not config.require_learning:
            context.log.warning("%s V%s: %s (require_learning is off)", model_type, version, failed)
        elif failed:
            # Registered in MLflow for inspection, but never the default: thresholds derived
            # from a collapsed model would hide every later drop.
            raise dg.Failure(
                description=f"{model_type} V{version} is not made the default: {failed}. "
                "Look at its MLflow run; a lower learning rate (trainer resource) usually helps.",
                metadata={
                    "version": version,
                    "golden_headline": dg.MetadataValue.float(float(model_score.headline)),
                    "mlflow_run_id": str(result.get("run_id", "")),
                },
            )
        info = deploy_version(
            store.get(),
            mlflow.client(),
            model_type=model_type,
            version=version,
            field_accuracy=model_score.field_accuracy(),
            metrics=model_score.to_dict(),
            margin=config.threshold_margin,
            mlflow_run_id=result.get("run_id"),
            parent_version=None,
            state=RetrainState.IDLE,
        )
        context.log.info(
            "%s V%s is the default; thresholds %s", model_type, version, info.thresholds
        )
        return dg.MaterializeResult(
            metadata=_score_metadata(model_type, version, model_score.to_dict(), info.thresholds)
            | {
                "mlflow_run_id": str(result.get("run_id", "")),
                "train_metrics": result.get("metrics", {}),
            }
        )

    return _baseline


def _score_metadata(
    model_type: str, version: str, score: dict[str, Any], thresholds: dict[str, float]
) -> dict[str, Any]:
    rows = ["| field | golden accuracy | threshold |", "|---|---|---|"]
    for name, acc in sorted(score["field_accuracy"].items()):
        rows.append(f"| {name} | {acc:.3f} | {thresholds.get(name, float('nan')):.3f} |")
    headline = "golden_accuracy" if model_type == "classifier" else "golden_micro_f1"
    return {
        "version": version,
        headline: dg.MetadataValue.float(float(score["headline"])),
        "golden_documents": score["n_documents"],
        "fields": dg.MetadataValue.md("\n".join(rows)),
        "report": dg.MetadataValue.json(score["report"]),
    }


baseline_assets = [build_baseline_asset(t) for t in ("classifier", "extractor")]

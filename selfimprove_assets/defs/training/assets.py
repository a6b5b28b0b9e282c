"""Baseline models (V1): train on the initial training set, score on the golden set, deploy.

A model type the data gives nothing to learn (one document type; no labeled entities) is not
trained: its baseline materializes as ``needed: false`` with the reason, and no default is set.

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
from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.defs.thresholds import ThresholdConfig
from selfimprove_assets.lib.deployment import deploy_version
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.evaluation.scoring import ModelScore, learnt_something, score_version
from selfimprove_assets.lib.feedback.examples import feedback_examples
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.models.dataset import read_dataset, write_dataset
from selfimprove_assets.lib.models.needs import (
    TRAINING_DATA_KEY,
    DataSummary,
    diagnose_no_learning,
    model_needed,
)
from selfimprove_assets.lib.types import MODEL_TYPES, RetrainState, TrainingExample


class BaselineConfig(ThresholdConfig):
    require_learning: bool = Field(
        default=True,
        description="Fail, and keep no default, when V1 scores no better on the golden set than "
        "a model that learnt nothing (majority type; no entities). Off for smoke tests on "
        "tiny models.",
    )
    include_feedback: bool = Field(
        default=False,
        description="Also train on the reviewers' committed documents (their verified types "
        "and entities). The accuracy sensor sets it when the model type joins the loop: a "
        "one-type corpus needs no classifier until reviewers verify a second type.",
    )


# Run config of the baselines for tiny smoke models (``demo --quick`` and the tests): they may
# stay at chance on the golden set, and still become the default so the loop around them runs.
SMOKE_BASELINES: dict[str, Any] = {
    "ops": {f"{t}_baseline": {"config": {"require_learning": False}} for t in MODEL_TYPES}
}


def build_baseline_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(model_type, "baseline")
    def _baseline(
        context: dg.AssetExecutionContext,
        config: BaselineConfig,
        initial_training_set: str,
        golden_test_set: str,
        home: SelfimproveHome,
        store: FeedbackStoreResource,
        mlflow: MlflowRegistryResource,
        trainer: TrainingJobResource,
        rules: LoopRules,
    ) -> dg.MaterializeResult:
        """V1 of the {model_type}: trained from the backbone on the initial training set, scored
        on the golden set, registered, and made the default (alias `champion`). Not trained when
        the data gives it nothing to learn ({kind.not_needed_when})."""
        training = read_dataset(initial_training_set)
        dataset = Path(initial_training_set)
        reviewed: list[TrainingExample] = []
        if config.include_feedback:
            reviewed = _reviewed_examples(store, home, model_type, training)
            dataset = home.path("datasets", model_type, "v1-with-feedback.parquet")
            write_dataset(dataset, training + reviewed)
        data = DataSummary.of(training + reviewed)
        not_needed = model_needed(model_type, data)
        if not_needed:
            context.log.info("%s not needed: %s", model_type, not_needed)
            return dg.MaterializeResult(
                metadata={
                    "needed": False,
                    "not_needed": not_needed,
                    "training_documents": data.documents,
                    "reviewed_documents": len(reviewed),
                    TRAINING_DATA_KEY: dg.MetadataValue.json(data.to_dict()),
                }
            )
        request = TrainingRequest.in_loop(
            model_type, dataset, BACKBONE_BASE, home=home, mlflow=mlflow
        )
        result = trainer.launch(context, request)
        version = str(result["version"])
        golden = read_dataset(golden_test_set)
        model_score = score_version(mlflow.tracking_uri, model_type, version, golden)
        guard_set, guard_score = golden, model_score
        if model_needed(model_type, golden) and not model_needed(model_type, data):
            # A one-type golden set cannot show whether a classifier tells types apart (every
            # model ties with "always that type"): judge it on what it was trained on instead.
            guard_set = training + reviewed
            guard_score = score_version(mlflow.tracking_uri, model_type, version, guard_set)
        failed = learnt_something(model_type, guard_score.headline, guard_set)
        if failed:
            failed = f"{failed}: {_diagnosis(model_type, data, guard_score)}"
        if failed and not config.require_learning:
            context.log.warning("%s V%s: %s (require_learning is off)", model_type, version, failed)
        elif failed:
            # Registered in MLflow for inspection, but never the default: thresholds derived
            # from a collapsed model would hide every later drop.
            raise dg.Failure(
                description=f"{model_type} V{version} is not made the default: {failed}. "
                "Its MLflow run holds the training curves.",
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
            metrics={**model_score.to_dict(), TRAINING_DATA_KEY: data.to_dict()},
            margin=config.thresholds(rules).margin,
            floor=config.thresholds(rules).floor,
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
                "needed": True,
                "mlflow_run_id": str(result.get("run_id", "")),
                "train_metrics": result.get("metrics", {}),
                "training_documents": data.documents,
                "reviewed_documents": len(reviewed),
                TRAINING_DATA_KEY: dg.MetadataValue.json(data.to_dict()),
            }
        )

    return _baseline


def _reviewed_examples(
    store: FeedbackStoreResource,
    home: SelfimproveHome,
    model_type: str,
    training: list[TrainingExample],
) -> list[TrainingExample]:
    """Every committed review of ``model_type`` as a training example (verified type and
    entities over the document's words), leaving out documents already in ``training``."""
    feedback = store.get()
    rows = feedback.curation.committed_feedback(model_type, include_retrained=True)
    examples, _ = feedback_examples(feedback, PageStore(home.pages_dir), rows, source="feedback")
    known = {e.document_id for e in training}
    return [e for e in examples if e.document_id not in known]


def _diagnosis(model_type: str, data: DataSummary, model_score: ModelScore) -> str:
    per_label = [d.per_label for d in model_score.documents]
    return diagnose_no_learning(
        model_type,
        data,
        predicted_types=[d.predicted_type for d in model_score.documents],
        predicted_entities=sum(c["tp"] + c["fp"] for doc in per_label for c in doc.values()),
    )


def _score_metadata(
    model_type: str, version: str, score: dict[str, Any], thresholds: dict[str, float]
) -> dict[str, Any]:
    rows = ["| field | golden accuracy | threshold |", "|---|---|---|"]
    for name, acc in sorted(score["field_accuracy"].items()):
        rows.append(f"| {name} | {acc:.3f} | {thresholds.get(name, float('nan')):.3f} |")
    headline = kind_of(model_type).headline_key
    return {
        "version": version,
        headline: dg.MetadataValue.float(float(score["headline"])),
        "golden_documents": score["n_documents"],
        "fields": dg.MetadataValue.md("\n".join(rows)),
        "report": dg.MetadataValue.json(score["report"]),
    }


baseline_assets = [build_baseline_asset(t) for t in MODEL_TYPES]

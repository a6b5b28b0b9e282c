"""Candidate versions: fine-tuned from the current default on the curated retraining set."""

from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.defs.resources import (
    FeedbackStoreResource,
    MlflowRegistryResource,
    SelfimproveHome,
    TrainingJobResource,
    TrainingRequest,
)
from selfimprove_assets.defs.stage import stage_asset
from selfimprove_assets.lib.loop.candidate import record_candidate
from selfimprove_assets.lib.models.names import model_uri
from selfimprove_assets.lib.types import MODEL_TYPES


def build_candidate_asset(model_type: str) -> dg.AssetsDefinition:
    @stage_asset(model_type, "candidate")
    def _candidate(
        context: dg.AssetExecutionContext,
        retraining_set: dict[str, Any],
        home: SelfimproveHome,
        store: FeedbackStoreResource,
        mlflow: MlflowRegistryResource,
        trainer: TrainingJobResource,
    ) -> dg.Output[dict[str, Any]]:
        """A new {model_type} version fine-tuned (LoRA warm start) from the current default on
        the curated set; registered with alias `challenger`, not deployed."""
        parent = retraining_set["parent_version"]
        cycle = f"{retraining_set['cycle_id']}-a{retraining_set['attempt']}"
        dataset, base = Path(retraining_set["train_path"]), model_uri(model_type, parent)
        request = TrainingRequest.in_loop(
            model_type, dataset, base, home=home, mlflow=mlflow, cycle=cycle
        )
        result = trainer.launch(context, request)
        recorded = record_candidate(
            store.get(),
            mlflow.client(),
            model_type=model_type,
            version=str(result["version"]),
            run_id=result.get("run_id"),
            parent_version=parent,
            cycle_id=retraining_set["cycle_id"],
            attempt=retraining_set["attempt"],
        )
        version = recorded.version
        metadata = {
            "version": version,
            "name": recorded.name,
            "parent_version": parent,
            "cycle": cycle,
            "dataset_hash": retraining_set["train_hash"],
            "mlflow_run_id": str(result.get("run_id", "")),
            "train_metrics": dg.MetadataValue.json(result.get("metrics", {})),
        }
        # An explicit Output: the Pipes session in this step must not be mistaken for outputs.
        return dg.Output(
            {
                "version": version,
                "name": recorded.name,
                "parent_version": parent,
                "run_id": result.get("run_id"),
                **{
                    k: retraining_set[k]
                    for k in ("cycle_id", "attempt", "holdout_path", "trigger_fields")
                },
            },
            metadata=metadata,
        )

    return _candidate


candidate_assets = [build_candidate_asset(t) for t in MODEL_TYPES]

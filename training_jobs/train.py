"""Train one model version and register it in MLflow (without promoting it).

Shaped like Hugging Face's ``run_ner.py``: dataclass arguments, ``main()``, seeded, logging.
Dagster launches it through Pipes (``PipesSubprocessClient`` here, ``PipesK8sClient`` on a
cluster); run by hand it behaves the same and prints its JSON result::

    python -m training_jobs.train --model-type extractor --dataset data.parquet \\
        --base models:/entity-extractor@champion --tracking-uri sqlite:///mlflow.db \\
        --output-json result.json

It imports ``dagster_pipes`` only (never ``dagster``) and reuses the plain library code in
``selfimprove_assets.lib.models`` so training and serving share one featurizer and model.

``--dataset`` and ``--backbone`` are local paths or MLflow artifact URIs (``runs:/...``,
``mlflow-artifacts:/...``): a pod on Kubernetes reads nothing from the Dagster host, so the
launcher logs both as artifacts and the job downloads them here first. ``--device`` (or
``SELFIMPROVE_DEVICE``) picks where it trains: ``auto`` is CUDA when present, the CPU otherwise.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dagster_pipes import PipesContext, PipesEnvVarParamsLoader, open_dagster_pipes
from transformers import HfArgumentParser

from selfimprove_assets.lib.models.backbone import configure_runtime
from selfimprove_assets.lib.models.dataset import content_hash, read_dataset
from selfimprove_assets.lib.models.registry import ModelRegistry, registered_name
from selfimprove_assets.lib.models.training import TrainConfig, TrainResult, train
from selfimprove_assets.lib.models.training_inputs import fetch_input, is_artifact_uri
from selfimprove_assets.lib.types import MODEL_TYPES, ModelType

logger = logging.getLogger("training_jobs.train")

BACKBONE_BASE = "backbone"
_DEFAULTS = TrainConfig()


def _documented(default: Any, help: str) -> Any:
    """An argument with a default and the line ``--help`` shows for it."""
    return field(default=default, metadata={"help": help})


@dataclass
class JobArguments:
    model_type: str = field(metadata={"help": "classifier or extractor"})
    dataset: str = field(
        metadata={"help": "Parquet file written by write_dataset(), or its MLflow artifact URI"}
    )
    tracking_uri: str = field(metadata={"help": "MLflow tracking URI (also the registry)"})
    base: str = _documented(
        BACKBONE_BASE, "'backbone' for V1, or models:/<name>@<alias> | models:/<name>/<n>"
    )
    output_json: str | None = _documented(None, "where to write the result")
    backbone: str | None = _documented(
        None, "HF model path or its MLflow artifact URI (default: settings)"
    )
    registry_uri: str | None = field(default=None)
    artifact_root: str | None = _documented(None, "experiment artifact root")
    cycle: str | None = _documented(None, "retrain cycle, tagged on the version")
    dagster_run_id: str | None = field(default=None)
    # Recipe knobs: defaults come from TrainConfig, the one place they are set.
    epochs: int = _DEFAULTS.epochs
    lr: float = _documented(_DEFAULTS.learning_rate, "adapter (LoRA) and head rate")
    full_lr: float = _documented(
        _DEFAULTS.full_learning_rate, "encoder rate in a full fine-tune (--full-finetune, V1 only)"
    )
    full_finetune: bool = _documented(
        _DEFAULTS.full_finetune, "V1 trains every encoder weight (its children stay LoRA adapters)"
    )
    head_lr_multiplier: float = _DEFAULTS.head_lr_multiplier
    outside_weight: float = _documented(_DEFAULTS.outside_weight, "extractor loss weight of O")
    warmup_steps: int = _DEFAULTS.warmup_steps
    min_steps: int = _DEFAULTS.min_steps
    select_on: str = _documented(_DEFAULTS.select_on, "val_f1 or val_loss: which epoch is kept")
    batch_size: int = _DEFAULTS.batch_size
    lora_r: int = _DEFAULTS.lora_r
    lora_alpha: int = _DEFAULTS.lora_alpha
    lora_dropout: float = _DEFAULTS.lora_dropout
    lora_layers: str = _documented(
        _DEFAULTS.lora_layers, "LoRA placement: all_linear or query_value"
    )
    train_2d_embeddings: bool = _documented(
        _DEFAULTS.train_2d_embeddings, "also train the 2-D box embeddings (V1 only)"
    )
    max_length: int = _DEFAULTS.max_length
    stride: int = _DEFAULTS.stride
    patience: int = _DEFAULTS.patience
    val_fraction: float = _DEFAULTS.val_fraction
    seed: int = _DEFAULTS.seed
    max_steps: int | None = None
    threads: int | None = None
    device: str | None = _documented(
        None, "auto, cpu, cuda or cuda:N (default: SELFIMPROVE_DEVICE, else auto)"
    )
    no_progress: bool = False


class Reporter:
    """Sends progress to Dagster when launched through Pipes, to the log otherwise."""

    def __init__(self, pipes: PipesContext | None) -> None:
        self.pipes = pipes

    def info(self, message: str) -> None:
        logger.info(message)
        if self.pipes is not None:
            self.pipes.log.info(message)

    def metrics(self, step: int, metrics: dict[str, float]) -> None:
        if self.pipes is not None and "epoch" in metrics:
            self.pipes.report_custom_message({"kind": "epoch_metrics", "step": step, **metrics})
            self.pipes.log.info(f"epoch {int(metrics['epoch'])}: {_short(metrics)}")

    def materialization(self, result: dict[str, Any]) -> None:
        if self.pipes is None:
            return
        metadata: dict[str, Any] = {
            "registered_name": result["registered_name"],
            "version": result["version"],
            "run_id": result["run_id"],
            "model_uri": result["model_uri"],
            "parent_version": result["parent_version"] or "",
            "dataset_hash": result["dataset_hash"],
            "n_train": result["n_train"],
            "n_val": result["n_val"],
            "artifact_bytes": result["artifact_bytes"],
            "metrics": {"raw_value": result["metrics"], "type": "json"},
        }
        for key, value in result["metrics"].items():
            if "." not in key:
                metadata[key] = float(value)
        asset_key = self.pipes.extras.get("asset_key") if self.pipes.extras else None
        self.pipes.report_asset_materialization(metadata=metadata, asset_key=asset_key)


def _short(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if "." not in k)


# A job argument named after a TrainConfig knob sets that knob; these take a shorter flag.
_KNOB_OF_ARGUMENT = {"lr": "learning_rate", "full_lr": "full_learning_rate"}


def train_config(args: JobArguments) -> TrainConfig:
    """The run's knobs: every argument named after a ``TrainConfig`` field (or renamed in
    ``_KNOB_OF_ARGUMENT``) sets it, and progress bars show unless ``--no-progress``."""
    knobs = {f.name for f in fields(TrainConfig)}
    given = {_KNOB_OF_ARGUMENT.get(f.name, f.name): getattr(args, f.name) for f in fields(args)}
    return TrainConfig(
        **{knob: value for knob, value in given.items() if knob in knobs},
        progress=not args.no_progress,
    )


def fetch_inputs(args: JobArguments, directory: Path) -> JobArguments:
    """The arguments with MLflow artifact URIs (``--dataset``, ``--backbone``) replaced by
    local copies under ``directory``, downloaded through ``--tracking-uri``."""
    local: dict[str, str] = {}
    for name in ("dataset", "backbone"):
        uri = getattr(args, name)
        if is_artifact_uri(uri):
            local[name] = fetch_input(uri, directory / name, args.tracking_uri)
            logger.info("%s %s downloaded to %s", name, uri, local[name])
    if "dataset" in local and not Path(local["dataset"]).is_file():
        raise ValueError(f"--dataset {args.dataset} is not a file artifact")
    return replace(args, **local)


def run(args: JobArguments, reporter: Reporter | None = None) -> dict[str, Any]:
    """Train, validate, log and register one version; return the JSON-able result.

    Inputs given as MLflow artifact URIs are downloaded first (to a temporary folder)."""
    if not (is_artifact_uri(args.dataset) or is_artifact_uri(args.backbone)):
        return _run(args, args, reporter)
    with tempfile.TemporaryDirectory(prefix="selfimprove-inputs-") as tmp:
        return _run(fetch_inputs(args, Path(tmp)), args, reporter)


def _run(args: JobArguments, given: JobArguments, reporter: Reporter | None) -> dict[str, Any]:
    """``run`` on local inputs; ``given`` holds the arguments as passed (URIs kept)."""
    reporter = reporter or Reporter(None)
    model_type = ModelType(args.model_type).value
    configure_runtime(args.threads)
    started = time.perf_counter()
    examples = read_dataset(args.dataset)
    digest = content_hash(examples)
    reporter.info(f"dataset {given.dataset}: {len(examples)} documents, hash {digest[:12]}")
    registry = ModelRegistry(
        args.tracking_uri, registry_uri=args.registry_uri, artifact_root=args.artifact_root
    )
    parent = None
    parent_version: str | None = None
    backbone = args.backbone
    if args.base != BACKBONE_BASE:
        version, parent = registry.load_bundle(args.base, backbone=args.backbone)
        if version.name != registered_name(model_type):
            raise ValueError(f"--base {args.base} is a {version.name}, not a {model_type} model")
        parent_version = str(version.version)
        reporter.info(f"warm start from {version.name} version {parent_version}")
    elif backbone is None:
        from selfimprove_assets.lib.settings import load_settings

        backbone = load_settings().backbone
    config = train_config(args)
    tags = {"dataset_hash": digest, "parent_version": parent_version or "", "base": args.base}
    if args.cycle:
        tags["cycle"] = args.cycle
    if args.dagster_run_id:
        tags["dagster_run_id"] = args.dagster_run_id
    run_id = registry.start_run(
        model_type, tags=tags, run_name=f"{model_type}-{args.cycle or 'run'}"
    )
    try:
        registry.log_params(
            run_id,
            {
                **config.params(),
                "backbone": given.backbone or backbone or "",
                "dataset": given.dataset,
            },
        )

        def on_metrics(step: int, metrics: dict[str, float]) -> None:
            registry.log_metrics(run_id, step, metrics)
            reporter.metrics(step, metrics)

        result: TrainResult = train(
            model_type,
            examples,
            backbone=backbone,
            parent=parent,
            config=config,
            on_metrics=on_metrics,
        )
        registry.log_params(
            run_id,
            {
                "dataset_hash": digest,
                "dataset_rows": len(examples),
                "train_rows": result.n_train,
                "val_rows": result.n_val,
                "labels": ",".join(result.bundle.spec.labels),
                "resolved_backbone": result.bundle.spec.backbone,
                "resolved_device": result.device,
            },
        )
        final = {f"final_{k}": v for k, v in result.metrics.items()}
        registry.log_metrics(run_id, result.steps, final)
        version_tags = {
            "dataset_hash": digest,
            "parent_version": parent_version or "",
            "best_epoch": str(result.best_epoch),
        }
        if args.cycle:
            version_tags["cycle"] = args.cycle
        if args.dagster_run_id:
            version_tags["dagster_run_id"] = args.dagster_run_id
        registered = registry.register_bundle(run_id, result.bundle, version_tags=version_tags)
        registry.end_run(run_id)
    except BaseException:
        registry.end_run(run_id, status="FAILED")
        raise
    output = {
        "model_type": model_type,
        "registered_name": registered.name,
        "version": registered.version,
        "model_uri": registered.model_uri,
        "run_id": run_id,
        "parent_version": parent_version,
        "dataset_hash": digest,
        "n_train": result.n_train,
        "n_val": result.n_val,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "new_labels": result.new_labels,
        "labels": result.bundle.spec.labels,
        "metrics": result.metrics,
        "history": result.history,
        "artifact_bytes": registered.artifact_bytes,
        "seconds": round(time.perf_counter() - started, 2),
        "device": result.device,
        "arguments": asdict(given),
    }
    reporter.info(
        f"registered {registered.name} version {registered.version}: {_short(result.metrics)}"
    )
    return output


def parse_args(argv: list[str] | None = None) -> JobArguments:
    parser = HfArgumentParser(JobArguments)  # type: ignore[arg-type]
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    if args.model_type not in MODEL_TYPES:
        known = ", ".join(MODEL_TYPES)
        parser.error(f"--model-type must be one of {known}, not {args.model_type!r}")
    if not is_artifact_uri(args.dataset) and not Path(args.dataset).is_file():
        parser.error(f"--dataset {args.dataset} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO,
        stream=sys.stderr,
    )
    args = parse_args(argv)
    launched = PipesEnvVarParamsLoader().is_dagster_pipes_process()
    if launched:
        # The context manager reports an exception back to Dagster before re-raising it.
        with open_dagster_pipes() as pipes:
            reporter = Reporter(pipes)
            output = run(args, reporter)
            reporter.materialization(output)
    else:
        output = run(args, Reporter(None))
    text = json.dumps(output, indent=2, default=str)
    if args.output_json:
        Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output_json).write_text(text, encoding="utf-8")
    # Under Pipes the result goes back through Pipes and the file; the launcher's stdout (e.g.
    # ``selfimprove demo --json``) stays its own. Run by hand, the job prints it.
    if not launched:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

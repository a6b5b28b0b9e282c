"""Train one model version and register it in MLflow (without promoting it).

The job receives its whole configuration as one JSON document (``JobDocument``: what to train,
where to log, and ``recipe``, the ``TrainConfig`` knobs): Dagster launches it through Pipes
(``PipesSubprocessClient`` here, ``PipesK8sClient`` on a cluster) with the document in the
``extras``; run by hand it reads ``--config FILE`` and prints its JSON result. Every field of the
document and of the recipe is also a flag (``--model-type``, ``--epochs``; ``--lr`` and
``--full-lr`` are short for the rates), derived from the two classes and applied over the
document::

    python -m training_jobs.train --config job.json --epochs 3
    python -m training_jobs.train --model-type extractor --dataset data.parquet \\
        --base models:/entity-extractor@champion --tracking-uri sqlite:///mlflow.db \\
        --output-json result.json

It imports ``dagster_pipes`` only (never ``dagster``) and reuses the plain library code in
``selfimprove_assets.lib.models`` so training and serving share one featurizer and model.

``dataset`` and ``backbone`` are local paths or MLflow artifact URIs (``runs:/...``,
``mlflow-artifacts:/...``): a pod on Kubernetes reads nothing from the Dagster host, so the
launcher logs both as artifacts and the job downloads them here first. The recipe's ``device``
picks where it trains; unset, the settings where the job runs decide (``SELFIMPROVE_DEVICE``):
``auto`` is CUDA when present, the CPU otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dagster_pipes import PipesContext, PipesEnvVarParamsLoader, open_dagster_pipes
from pydantic import ValidationError

from selfimprove_assets.lib.models.backbone import configure_runtime
from selfimprove_assets.lib.models.dataset import content_hash, read_dataset
from selfimprove_assets.lib.models.registry import ModelRegistry, registered_name
from selfimprove_assets.lib.models.training import TrainConfig, TrainResult, train
from selfimprove_assets.lib.models.training_inputs import fetch_input, is_artifact_uri
from selfimprove_assets.lib.types import MODEL_TYPES, ModelType

logger = logging.getLogger("training_jobs.train")

BACKBONE_BASE = "backbone"
JOB_EXTRA = "job"  # the Pipes extra that holds the document (defs.resources.JOB_EXTRA)


@dataclass
class JobDocument:
    """The training job's configuration: what to train, where to log it, and the recipe."""

    model_type: str  # classifier or extractor
    dataset: str  # Parquet file written by write_dataset(), or its MLflow artifact URI
    tracking_uri: str  # MLflow tracking URI (also the registry)
    base: str = BACKBONE_BASE  # 'backbone' for V1, or models:/<name>@<alias> | models:/<name>/<n>
    backbone: str | None = None  # HF model path or its MLflow artifact URI (default: settings)
    registry_uri: str | None = None
    artifact_root: str | None = None  # experiment artifact root
    cycle: str | None = None  # retrain cycle, tagged on the version
    dagster_run_id: str | None = None
    output_json: str | None = None  # where to write the result
    threads: int | None = None  # torch threads (default: the runtime's)
    recipe: dict[str, Any] = field(default_factory=dict)  # TrainConfig's knobs


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


def train_config(job: JobDocument) -> TrainConfig:
    """The run's knobs: the document's recipe over ``TrainConfig``'s defaults."""
    return TrainConfig(**job.recipe)


def fetch_inputs(args: JobDocument, directory: Path) -> JobDocument:
    """The arguments with MLflow artifact URIs (``--dataset``, ``--backbone``) replaced by
    local copies under ``directory``, downloaded through ``--tracking-uri``."""
    local: dict[str, str] = {}
    for name in ("dataset", "backbone"):
        uri = getattr(args, name)
        if is_artifact_uri(uri):
            local[name] = fetch_input(uri, directory / name, args.tracking_uri)
            logger.info("%s %s downloaded to %s", name, uri, local[name])
    if "dataset" in local and not Path(local["dataset"]).is_file():
        raise ValueError(f"dataset {args.dataset} is not a file artifact")
    return replace(args, **local)


def run(args: JobDocument, reporter: Reporter | None = None) -> dict[str, Any]:
    """Train, validate, log and register one version; return the JSON-able result.

    Inputs given as MLflow artifact URIs are downloaded first (to a temporary folder)."""
    if not (is_artifact_uri(args.dataset) or is_artifact_uri(args.backbone)):
        return _run(args, args, reporter)
    with tempfile.TemporaryDirectory(prefix="selfimprove-inputs-") as tmp:
        return _run(fetch_inputs(args, Path(tmp)), args, reporter)


def _run(args: JobDocument, given: JobDocument, reporter: Reporter | None) -> dict[str, Any]:
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
            raise ValueError(f"base {args.base} is a {version.name}, not a {model_type} model")
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

        from selfimprove_assets.lib.settings import load_settings

        result: TrainResult = train(
            model_type,
            examples,
            backbone=backbone,
            parent=parent,
            config=config,
            on_metrics=on_metrics,
            automation=load_settings().automation,  # the cut-offs' target ([automation])
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
        log_calibration(registry, run_id, result.bundle.spec.automation_report)
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


# Flags that are short for a recipe knob (older command lines).
_ALIASES = {"lr": "learning_rate", "full_lr": "full_learning_rate"}


def _parser() -> argparse.ArgumentParser:
    """Flags derived from ``JobDocument`` and ``TrainConfig``: each field is a flag."""
    parser = argparse.ArgumentParser(prog="training_jobs.train", description=__doc__)
    parser.add_argument("--config", help="the job document (JSON); flags apply over it")
    for f in fields(JobDocument):
        if f.name != "recipe":
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name)
    for name, info in TrainConfig.model_fields.items():
        flags = [f"--{name.replace('_', '-')}"]
        flags += [f"--{a.replace('_', '-')}" for a, knob in _ALIASES.items() if knob == name]
        boolean = info.annotation is bool
        parser.add_argument(
            *flags, dest=f"recipe.{name}", help=info.description,
            nargs="?" if boolean else None, const="true" if boolean else None,
        )  # fmt: skip
    parser.add_argument("--no-progress", dest="no_progress", nargs="?", const="true")
    return parser


def parse_args(
    argv: list[str] | None = None, document: dict[str, Any] | None = None
) -> JobDocument:
    """The job document: ``document`` (the Pipes extras), else ``--config``, with the flags
    of ``argv`` applied over it; a bad value stops with a message naming it."""
    parser = _parser()
    given = vars(parser.parse_args(argv))
    path = given.pop("config")
    base: dict[str, Any] = dict(document or {})
    if path:
        try:
            base = {**json.loads(Path(path).read_text(encoding="utf-8")), **base}
        except (OSError, ValueError) as exc:
            parser.error(f"--config {path}: {exc}")
    recipe = dict(base.pop("recipe", None) or {})
    no_progress = given.pop("no_progress")
    if no_progress is not None:
        recipe["progress"] = no_progress.strip().lower() not in ("true", "1", "yes")
    for key, value in given.items():
        if value is None:
            continue
        if key.startswith("recipe."):
            recipe[key.removeprefix("recipe.")] = value
        else:
            base[key] = int(value) if key == "threads" else value
    required = [f.name for f in fields(JobDocument) if f.default is MISSING is f.default_factory]
    missing = [name for name in required if name not in base]
    if missing:
        parser.error(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)}")
    try:
        job = JobDocument(**base, recipe=TrainConfig(**recipe).model_dump(exclude_unset=True))
    except (TypeError, ValidationError) as exc:
        parser.error(str(exc))
    if job.model_type not in MODEL_TYPES:
        known = ", ".join(MODEL_TYPES)
        parser.error(f"--model-type must be one of {known}, not {job.model_type!r}")
    if not is_artifact_uri(job.dataset) and not Path(job.dataset).is_file():
        parser.error(f"--dataset {job.dataset} does not exist")
    return job


def log_calibration(registry: ModelRegistry, run_id: str, report: dict[str, Any]) -> None:
    """The version's calibration report (ECE, reliability tables, cut-off target) and its
    reliability plot as artifacts of the training run (``calibration/``)."""
    import tempfile

    from selfimprove_assets.lib.automation.plot import reliability_plot

    if not report:
        return
    registry.client.log_dict(run_id, report, "calibration/report.json")
    with tempfile.TemporaryDirectory() as tmp:
        plot = reliability_plot(report, Path(tmp) / "reliability.png")
        registry.client.log_artifact(run_id, str(plot), "calibration")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO,
        stream=sys.stderr,
    )
    launched = PipesEnvVarParamsLoader().is_dagster_pipes_process()
    if launched:
        # The context manager reports an exception back to Dagster before re-raising it.
        with open_dagster_pipes() as pipes:
            args = parse_args(argv, (pipes.extras or {}).get(JOB_EXTRA))
            reporter = Reporter(pipes)
            output = run(args, reporter)
            reporter.materialization(output)
    else:
        args = parse_args(argv)
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

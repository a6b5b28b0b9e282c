"""Dagster resources shared by every stage of the loop.

Each one is a ``dg.ConfigurableResource`` built by ``default_resources`` from ``lib.settings``
(``selfimprove.toml`` and ``SELFIMPROVE_*`` variables over the embedded SQLite/MLflow defaults
under ``SELFIMPROVE_HOME``), so the Dagster UI shows the settings in effect. Values that may hold
a secret (the database URL with its password, MLflow URIs with credentials) are passed as
``dg.EnvVar`` when their variable set them: the UI then shows the variable's name, never the
value. We wrap ``MlflowClient`` ourselves instead of using dagster-mlflow's
``mlflow_tracking`` resource: that resource is written for ops (a global active run started in
``config_schema``), and under ``materialize()`` it leaves runs RUNNING and leaks state between
runs. Our training runs happen in a Pipes subprocess that owns its MLflow run explicitly, so the
Dagster side only needs a registry client.
"""

import json
import os
import sys
import tempfile
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from mlflow import MlflowClient
from pydantic import Field

from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.lib.defaults import TrainingSettings
from selfimprove_assets.lib.settings import TOP_LEVEL, Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolved(value: str) -> str:
    """A field's value: Dagster resolves a ``dg.EnvVar`` when it runs a resource, but a resource
    object used directly (``defs.resources``, the demo's driver) still holds the reference."""
    return value.get_value() or "" if isinstance(value, dg.EnvVar) else value


@lru_cache(maxsize=8)
def _store(url: str) -> FeedbackStore:
    return FeedbackStore(url)


class SelfimproveHome(dg.ConfigurableResource):
    """Where corpus files, page caches, datasets and reports live."""

    home: str = Field(description="The data directory (SELFIMPROVE_HOME).")
    backbone: str = Field(description="Hugging Face model path of the encoder backbone.")

    @property
    def settings(self) -> Settings:
        return load_settings({**os.environ, "SELFIMPROVE_HOME": self.home})

    def path(self, *parts: str) -> Path:
        path = Path(self.home).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class FeedbackStoreResource(dg.ConfigurableResource):
    """The feedback store (documents, feedback, counters, model table)."""

    database_url: str = Field(description="SQLAlchemy URL: SQLite file or PostgreSQL server.")

    def get(self) -> FeedbackStore:
        return _store(resolved(self.database_url))


class MlflowRegistryResource(dg.ConfigurableResource):
    """An explicit MLflow client: tracking URI and artifact root never depend on the cwd."""

    tracking_uri: str = Field(description="MLflow tracking (and registry) URI.")
    artifact_root: str = Field(description="Artifact location for new experiments.")

    def client(self) -> MlflowClient:
        uri = resolved(self.tracking_uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


BACKBONE_BASE = "backbone"  # ``TrainingRequest.base`` of an initial (V1) run


@dataclass(frozen=True)
class TrainingRequest:
    """What to train: model type, dataset, the version to start from, and where to log."""

    model_type: str
    dataset: Path
    base: str
    tracking_uri: str
    artifact_root: str
    backbone: str
    cycle: str | None = None

    @classmethod
    def in_loop(
        cls,
        model_type: str,
        dataset: Path,
        base: str,
        *,
        home: SelfimproveHome,
        mlflow: MlflowRegistryResource,
        cycle: str | None = None,
    ) -> "TrainingRequest":
        """A run of the loop: the home's backbone, logged to the loop's MLflow store."""
        return cls(
            model_type=model_type,
            dataset=dataset,
            base=base,
            tracking_uri=mlflow.tracking_uri,
            artifact_root=mlflow.artifact_root,
            backbone=home.backbone,
            cycle=cycle,
        )


_RECIPE = TrainingSettings()  # defaults only: default_resources passes the settings in effect


class TrainingJobResource(dg.ConfigurableResource):
    """Launches ``training_jobs/train.py`` through Dagster Pipes in a local subprocess.

    The same script runs on Kubernetes through ``PipesK8sClient`` (see deploy/ and the README);
    only this resource changes.
    """

    python: str = Field(default=sys.executable, description="Interpreter for the training job.")
    # The defaults live in lib.defaults.TrainingSettings ([training] in selfimprove.toml), as
    # do TrainConfig's and the training job's; default_resources passes the settings in effect.
    epochs: int = Field(
        default=_RECIPE.epochs,
        description="Maximum epochs (early stopping may end sooner; small sets get more, see "
        "min_steps).",
    )
    warm_start_epochs: int | None = Field(
        default=_RECIPE.warm_start_epochs,
        description="Maximum epochs of a run that continues the default (a candidate starts "
        "where its parent stopped, so it needs fewer); at most `epochs`; None means `epochs`.",
    )
    classifier_epochs: int | None = Field(
        default=_RECIPE.classifier_epochs,
        description="Maximum epochs for the classifier, when lower than `epochs` (it converges "
        "in a few epochs on a few hundred documents); None means the same as the extractor.",
    )
    patience: int = Field(
        default=_RECIPE.patience, description="Evaluations without improvement before stopping."
    )
    batch_size: int = Field(default=_RECIPE.batch_size, description="Training batch size.")
    learning_rate: float = Field(
        default=_RECIPE.learning_rate,
        description="Rate of LoRA adapters and fresh heads (warm starts, and V1 when it is not "
        "a full fine-tune).",
    )
    full_learning_rate: float = Field(
        default=_RECIPE.full_learning_rate,
        description="Encoder rate of a full fine-tune (V1 of the types in full_finetune_types).",
    )
    full_finetune_types: list[str] = Field(
        default_factory=lambda: list(_RECIPE.full_finetune_types),
        description="Model types whose V1 trains every encoder weight (stored once, in V1's "
        "version); their candidates stay LoRA adapters on top of V1.",
    )
    head_lr_multiplier: float = Field(
        default=_RECIPE.head_lr_multiplier, description="The fresh head's rate over the rate."
    )
    outside_weight: float = Field(
        default=_RECIPE.outside_weight,
        description="Extractor loss weight of the O class (entity classes weigh 1).",
    )
    warmup_steps: int = Field(
        default=_RECIPE.warmup_steps, description="Minimum warm-up, in optimizer steps."
    )
    min_steps: int = Field(
        default=_RECIPE.min_steps,
        description="Optimizer steps a V1 makes at least (more epochs on few documents); no "
        "early stop before them. A warm start starts trained and keeps its epoch cap.",
    )
    warm_start_min_steps: int = Field(
        default=_RECIPE.warm_start_min_steps,
        description="Optimizer steps a warm start makes at least (0: its epoch cap alone). On a "
        "few dozen corrected real documents a candidate's epochs make few steps.",
    )
    select_on: str = Field(
        default=_RECIPE.select_on, description="Which validation figure keeps an epoch."
    )
    max_length: int = Field(default=_RECIPE.max_length, description="Tokens per window.")
    lora_layers: str = Field(
        default=_RECIPE.lora_layers,
        description="LoRA placement for V1: all_linear (attention + feed-forward) or query_value.",
    )
    lora_dropout: float = Field(
        default=_RECIPE.lora_dropout,
        description="Dropout on the LoRA adapters' input (V1; candidates keep their parent's); "
        "0 is 10-20% faster on CPU but once left a 4-epoch V1 classifier at chance.",
    )
    train_2d_embeddings: bool = Field(
        default=_RECIPE.train_2d_embeddings,
        description="V1 also trains the 2-D box embeddings (they overfit small data).",
    )
    extra_args: list[str] = Field(default_factory=list, description="More CLI args for train.py.")

    @classmethod
    def settings_values(cls, training: TrainingSettings) -> dict[str, Any]:
        """The ``[training]`` settings as this resource's field values."""
        values = {f.name: getattr(training, f.name) for f in fields(training)}
        values["full_finetune_types"] = list(training.full_finetune_types)
        return values

    def epochs_for(self, request: TrainingRequest) -> int:
        epochs = self.epochs
        if request.model_type == "classifier" and self.classifier_epochs:
            epochs = min(epochs, self.classifier_epochs)
        warm = request.base != BACKBONE_BASE
        if warm and self.warm_start_epochs:
            return min(self.warm_start_epochs, epochs)
        return epochs

    def full_finetune_for(self, request: TrainingRequest) -> bool:
        """Only a V1 fine-tunes in full; a warm start is an adapter on its parent."""
        return request.base == BACKBONE_BASE and request.model_type in self.full_finetune_types

    def job_args(self, context: dg.AssetExecutionContext, request: TrainingRequest) -> list[str]:
        """The arguments of ``training_jobs.train``, the same wherever the job runs."""
        return [
            "-m", "training_jobs.train",
            "--model-type", request.model_type,
            "--dataset", str(request.dataset),
            "--base", request.base,
            "--backbone", request.backbone,
            "--tracking-uri", request.tracking_uri,
            "--artifact-root", request.artifact_root,
            "--epochs", str(self.epochs_for(request)),
            "--batch-size", str(self.batch_size),
            "--lr", str(self.learning_rate),
            "--full-lr", str(self.full_learning_rate),
            *(["--full-finetune"] if self.full_finetune_for(request) else []),
            "--head-lr-multiplier", str(self.head_lr_multiplier),
            "--outside-weight", str(self.outside_weight),
            "--warmup-steps", str(self.warmup_steps),
            "--min-steps",
            str(self.min_steps if request.base == BACKBONE_BASE else self.warm_start_min_steps),
            "--select-on", self.select_on,
            "--max-length", str(self.max_length),
            "--patience", str(self.patience),
            "--lora-layers", self.lora_layers,
            "--lora-dropout", str(self.lora_dropout),
            *(["--train-2d-embeddings"] if self.train_2d_embeddings else []),
            "--no-progress",
            "--dagster-run-id", context.run.run_id,
            *(["--cycle", request.cycle] if request.cycle else []),
            *self.extra_args,
        ]  # fmt: skip

    def launch(self, context: dg.AssetExecutionContext, request: TrainingRequest) -> dict[str, Any]:
        """Run one training job and return its JSON result (registered name, version, metrics)."""
        with tempfile.TemporaryDirectory(prefix="selfimprove-train-") as tmp:
            out = Path(tmp) / "result.json"
            command = [self.python, *self.job_args(context, request), "--output-json", str(out)]
            env = {
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
            client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT))
            client.run(context=context, command=command, env=env).get_results()
            if not out.exists():
                raise dg.Failure(
                    f"training job for {request.model_type} finished without a result file"
                )
            return json.loads(out.read_text(encoding="utf-8"))


class K8sTrainingJobResource(TrainingJobResource):
    """The same training script as a Kubernetes pod, launched with ``PipesK8sClient``.

    The pod reports the registered version through Pipes (its materialization metadata), since
    no result file is shared with the Dagster process. ``deploy/train-job.yaml`` is the base pod
    spec (GPU node selector, resources, ``SELFIMPROVE_DEVICE=cuda``): the job trains on the GPU.

    A pod reads nothing from the Dagster host: the dataset and, when it is a local folder, the
    backbone are logged as MLflow artifacts (``lib.models.training_inputs``) and passed as
    ``runs:/`` URIs that the job downloads; the base pod spec may not mount a host path. The
    MLflow tracking URI and artifact root must therefore be reachable from the cluster (an MLflow
    server and an object store or its artifact proxy); ``launch`` refuses local ones.
    """

    image: str = Field(description="Image with this repository installed.")
    namespace: str = Field(default="selfimprove", description="Namespace of the training pods.")
    base_pod_spec_file: str = Field(
        default=str(PROJECT_ROOT / "deploy" / "train-job.yaml"),
        description="YAML pod spec merged into the launched pod (no hostPath volumes).",
    )

    def pod_spec(self) -> dict[str, Any]:
        """The base pod spec, refused when it mounts a path of the host."""
        import yaml

        loaded = yaml.safe_load(Path(self.base_pod_spec_file).read_text(encoding="utf-8"))
        spec: dict[str, Any] = loaded.get("spec", loaded)
        host = [
            str(volume.get("name"))
            for volume in spec.get("volumes") or []
            if "hostPath" in volume or "host_path" in volume
        ]
        if host:
            raise dg.Failure(
                f"{self.base_pod_spec_file} mounts host paths ({', '.join(host)}); a training "
                "pod reads its inputs from MLflow, never from the node"
            )
        return spec

    def pod_command(self, context: dg.AssetExecutionContext, request: TrainingRequest) -> list[str]:
        """The job's command with the dataset and backbone staged as MLflow artifact URIs."""
        from selfimprove_assets.lib.models.training_inputs import stage_training_inputs

        staged = stage_training_inputs(
            request.tracking_uri,
            request.artifact_root,
            dataset=request.dataset,
            backbone=request.backbone,
            tags={"model_type": request.model_type, "dagster_run_id": context.run.run_id},
        )
        args = self.job_args(context, request)
        for flag, uri in (("--dataset", staged.dataset_uri), ("--backbone", staged.backbone_uri)):
            args[args.index(flag) + 1] = uri
        return ["python", *args]

    def render_pod(
        self, context: dg.AssetExecutionContext, request: TrainingRequest
    ) -> dict[str, Any]:
        """The pod manifest ``launch`` creates (Pipes' bootstrap variables left out)."""
        from dagster_k8s.pipes import build_pod_body
        from kubernetes.client import ApiClient

        pod = build_pod_body(
            pod_name=f"selfimprove-train-{request.model_type}",
            image=self.image,
            command=self.pod_command(context, request),
            env_vars={},
            base_pod_meta=None,
            base_pod_spec=self.pod_spec(),
        )
        manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)  # type: ignore[assignment]
        return manifest

    def launch(self, context: dg.AssetExecutionContext, request: TrainingRequest) -> dict[str, Any]:
        from dagster_k8s import PipesK8sClient

        from selfimprove_assets.lib.models.training_inputs import unreachable_from_a_pod

        problems = unreachable_from_a_pod(request.tracking_uri, request.artifact_root)
        if problems:
            raise dg.Failure("a training pod cannot use this MLflow store: " + "; ".join(problems))
        results = (
            PipesK8sClient()
            .run(
                context=context,
                image=self.image,
                command=self.pod_command(context, request),
                namespace=self.namespace,
                base_pod_spec=self.pod_spec(),
            )
            .get_results()
        )
        for result in results:
            metadata = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
            if "version" in metadata:
                return {"version": str(metadata["version"]), "run_id": metadata.get("run_id")}
        raise dg.Failure(f"the {request.model_type} training pod reported no registered version")


def from_env(value: str, variable: str) -> str | dg.EnvVar:
    """``value``, or a reference to ``variable`` when that is where it came from: the Dagster UI
    shows a reference by name, so a password in a URL is never displayed."""
    return dg.EnvVar(variable) if value and os.environ.get(variable) == value else value


def default_resources(settings: Settings | None = None) -> dict[str, Any]:
    """The location's resources, from ``settings`` (default: ``load_settings()``)."""
    settings = settings or load_settings()
    return {
        "home": SelfimproveHome(home=str(settings.home), backbone=settings.backbone),
        "store": FeedbackStoreResource(
            database_url=from_env(settings.database_url, TOP_LEVEL["database_url"])
        ),
        "mlflow": MlflowRegistryResource(
            tracking_uri=from_env(settings.mlflow_tracking_uri, TOP_LEVEL["mlflow_tracking_uri"]),
            artifact_root=from_env(
                settings.mlflow_artifact_root, TOP_LEVEL["mlflow_artifact_root"]
            ),
        ),
        "trainer": TrainingJobResource(**TrainingJobResource.settings_values(settings.training)),
        "rules": LoopRules.from_settings(settings),
    }

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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from mlflow import MlflowClient
from pydantic import Field

from selfimprove_assets.defs.rules import LoopRules
from selfimprove_assets.defs.schema import derived_config, section_of
from selfimprove_assets.lib.defaults import TrainingSettings
from selfimprove_assets.lib.settings import TOP_LEVEL, Settings, load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES

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
    model_backbones: dict[str, str] = Field(
        default_factory=dict,
        description="Backbone per model type where it is not the default ([models] settings).",
    )

    def backbone_for(self, model_type: str) -> str:
        return self.model_backbones.get(model_type) or self.backbone

    # The folders of ``lib.settings.Settings`` (the same names); the rules in effect are the
    # ``rules`` and ``trainer`` resources', built once from the settings by default_resources.
    @property
    def pages_dir(self) -> Path:
        return Path(self.home) / "pages"

    @property
    def corpus_dir(self) -> Path:
        return Path(self.home) / "corpus"

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
JOB_EXTRA = "job"  # the Pipes extra that holds the training job's document


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
            backbone=home.backbone_for(model_type),
            cycle=cycle,
        )


if TYPE_CHECKING:  # the checker sees the knobs as the section declares them

    class _TrainingKnobs(dg.ConfigurableResource, TrainingSettings): ...

else:  # one field per [training] knob, with the schema's default and description
    _TrainingKnobs = derived_config(
        "_TrainingKnobs", TrainingSettings, "default", base=dg.ConfigurableResource
    )


class TrainingJobResource(_TrainingKnobs):
    """Launches ``training_jobs/train.py`` through Dagster Pipes in a local subprocess.

    Its fields are the ``[training]`` knobs (``lib.defaults.TrainingSettings``, the schema's
    defaults; ``default_resources`` passes the settings in effect). The job receives its whole
    configuration as one JSON document (``job_document``) in the Pipes ``extras``. The same
    script runs on Kubernetes through ``PipesK8sClient`` (see deploy/ and the README); only
    this resource changes.
    """

    python: str = Field(default=sys.executable, description="Interpreter for the training job.")
    extra_args: list[str] = Field(
        default_factory=list,
        description="train.py flags over the job document, e.g. --threads 1 or --epochs 3.",
    )

    @classmethod
    def settings_values(cls, training: TrainingSettings) -> dict[str, Any]:
        """The ``[training]`` settings as this resource's field values."""
        return training.plain()

    def training_settings(self) -> TrainingSettings:
        """This resource's knobs as the ``[training]`` section (checked there)."""
        return section_of(TrainingSettings, self)

    def recipe_for(self, request: TrainingRequest) -> dict[str, Any]:
        """The ``TrainConfig`` knobs of the run ``request`` asks for."""
        warm = request.base != BACKBONE_BASE
        recipe = self.training_settings().run_recipe(request.model_type, warm_start=warm)
        return {**recipe, "progress": False}

    def epochs_for(self, request: TrainingRequest) -> int:
        return self.recipe_for(request)["epochs"]

    def full_finetune_for(self, request: TrainingRequest) -> bool:
        """Only a V1 fine-tunes in full; a warm start is an adapter on its parent."""
        return self.recipe_for(request)["full_finetune"]

    def job_document(
        self, context: dg.AssetExecutionContext, request: TrainingRequest
    ) -> dict[str, Any]:
        """The training job's whole configuration (``training_jobs.train.JobDocument``), the
        same wherever the job runs."""
        return {
            "model_type": request.model_type,
            "dataset": str(request.dataset),
            "base": request.base,
            "backbone": request.backbone,
            "tracking_uri": request.tracking_uri,
            "artifact_root": request.artifact_root,
            "cycle": request.cycle,
            "dagster_run_id": context.run.run_id,
            "recipe": self.recipe_for(request),
        }

    def job_args(self) -> list[str]:
        """The job's command line: the module, and only the operator's ``extra_args``."""
        return ["-m", "training_jobs.train", *self.extra_args]

    def launch(self, context: dg.AssetExecutionContext, request: TrainingRequest) -> dict[str, Any]:
        """Run one training job and return its JSON result (registered name, version, metrics)."""
        with tempfile.TemporaryDirectory(prefix="selfimprove-train-") as tmp:
            out = Path(tmp) / "result.json"
            document = {**self.job_document(context, request), "output_json": str(out)}
            env = {
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
            client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT))
            client.run(
                context=context,
                command=[self.python, *self.job_args()],
                env=env,
                extras={JOB_EXTRA: document},
            ).get_results()
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
        return self._command(self._staged(context, request))

    def _command(self, staged: dict[str, str]) -> list[str]:
        """The staged inputs on the command line (the rest of the job document travels in the
        Pipes extras)."""
        return [
            "python", *self.job_args()[:2],
            "--dataset", staged["dataset"], "--backbone", staged["backbone"],
            *self.extra_args,
        ]  # fmt: skip

    def _staged(
        self, context: dg.AssetExecutionContext, request: TrainingRequest
    ) -> dict[str, str]:
        from selfimprove_assets.lib.models.training_inputs import stage_training_inputs

        staged = stage_training_inputs(
            request.tracking_uri,
            request.artifact_root,
            dataset=request.dataset,
            backbone=request.backbone,
            tags={"model_type": request.model_type, "dagster_run_id": context.run.run_id},
        )
        return {"dataset": staged.dataset_uri, "backbone": staged.backbone_uri}

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
        staged = self._staged(context, request)
        results = (
            PipesK8sClient()
            .run(
                context=context,
                image=self.image,
                command=self._command(staged),
                namespace=self.namespace,
                base_pod_spec=self.pod_spec(),
                extras={JOB_EXTRA: {**self.job_document(context, request), **staged}},
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
        "home": SelfimproveHome(
            home=str(settings.home),
            backbone=settings.backbone,
            model_backbones={
                t: settings.backbone_for(t)
                for t in MODEL_TYPES
                if settings.backbone_for(t) != settings.backbone
            },
        ),
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

"""MLflow: training runs, model versions, aliases and loading predictors by URI.

Everything goes through an explicit ``MlflowClient(tracking_uri, registry_uri)`` - no global
tracking URI, no active run, nothing relative to the working directory - so Dagster runs,
training subprocesses and the API can share one store without stepping on each other.

Layout: experiment ``selfimprove-<model_type>`` (created with an explicit artifact location);
registered models ``doc-classifier`` and ``entity-extractor``; each version is an MLflow
pyfunc whose artifacts are the bundle only (adapter, heads, label map, tokenizer, spec), with
version tags ``model_type``, ``parent_version``, ``dataset_hash``, ``cycle``, ``backbone``.
Registration never moves the ``champion`` alias: promotion is a separate, explicit step.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import torch
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from selfimprove_assets.lib.models.artifacts import FULL_FILE, ModelBundle
from selfimprove_assets.lib.models.names import registered_name
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.types import ModelType, PageWords

logger = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
BUNDLE_KEY = "bundle"


def pip_requirements() -> list[str]:
    """Pinned to what trained the model; the selfimprove package itself provides the code."""
    import peft
    import torch
    import transformers

    return [
        f"torch=={torch.__version__.split('+')[0]}",
        f"transformers=={transformers.__version__}",
        f"peft=={peft.__version__}",
        f"mlflow=={mlflow.__version__}",
        "selfimprove",
    ]


def code_version() -> str:
    """The git commit of the code that trained the model, or ``unknown`` outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


class SelfImproveModel(PythonModel):
    """The pyfunc face of a bundle: input rows hold ``PageWords`` dicts (or their JSON)."""

    def load_context(self, context: Any) -> None:
        self._predictor = ModelPredictor(ModelBundle.load(context.artifacts[BUNDLE_KEY]))

    # No annotations on purpose: MLflow 3 turns predict's type hints into a schema and warns
    # unless they are list[...]; rows may be a DataFrame column or a plain list.
    def predict(self, context, model_input, params=None):  # type: ignore[override]
        import json

        rows = model_input["page_words"] if hasattr(model_input, "columns") else model_input
        docs = [PageWords.from_dict(json.loads(r) if isinstance(r, str) else r) for r in rows]
        return self._predictor.predict_records(docs)


@dataclass
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float] = field(default_factory=dict)
    artifact_bytes: int = 0


class ModelRegistry:
    """Runs, versions and aliases of both model types in one MLflow store."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        registry_uri: str | None = None,
        artifact_root: str | None = None,
        experiment_prefix: str = "selfimprove",
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_root = artifact_root
        self.experiment_prefix = experiment_prefix
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=self.registry_uri)

    def experiment_id(self, model_type: str | ModelType) -> str:
        name = f"{self.experiment_prefix}-{ModelType(model_type).value}"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.artifact_root:
            root = self.artifact_root  # a URI as given: Path() would fold "s3://b" to "s3:/b"
            base = root if "://" in root else Path(root).resolve().as_uri()
            location = f"{base}/{name}"
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created concurrently by another process
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def start_run(
        self,
        model_type: str | ModelType,
        *,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
    ) -> str:
        run = self.client.create_run(
            self.experiment_id(model_type),
            run_name=run_name,
            tags={
                "model_type": ModelType(model_type).value,
                "code_version": code_version(),
                **(tags or {}),
            },
        )
        if params:
            self.log_params(run.info.run_id, params)
        return run.info.run_id

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(batch), 500):
            self.client.log_batch(run_id, metrics=batch[i : i + 500])

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def register_bundle(
        self,
        run_id: str,
        bundle: ModelBundle,
        *,
        version_tags: dict[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredVersion:
        """Log the bundle as a pyfunc under the run and register it as a new version."""
        name = registered_name(bundle.model_type)
        with tempfile.TemporaryDirectory(prefix="selfimprove-model-") as tmp:
            bundle_dir = bundle.save(Path(tmp) / "bundle")
            model_dir = Path(tmp) / MODEL_ARTIFACT
            mlflow.pyfunc.save_model(
                path=str(model_dir),
                python_model=SelfImproveModel(),
                artifacts={BUNDLE_KEY: str(bundle_dir)},
                pip_requirements=pip_requirements(),
                metadata={
                    "model_type": bundle.model_type,
                    "backbone": bundle.spec.backbone,
                    "family": bundle.spec.family,
                },
            )
            size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
            self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
        run = self.client.get_run(run_id)
        source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT}"
        try:
            self.client.create_registered_model(name)
        except MlflowException:
            pass  # already registered
        tags = {
            "model_type": bundle.model_type,
            "backbone": bundle.spec.backbone,
            "family": bundle.spec.family,
            "labels": ",".join(bundle.spec.labels)[:5000],
            **(version_tags or {}),
        }
        version = self.client.create_model_version(
            name, source, run_id=run_id, tags=tags, description=description
        )
        self.client.set_tag(run_id, "registered_version", f"{name}/{version.version}")
        logger.info("registered %s version %s (%.1f MB)", name, version.version, size / 1e6)
        return RegisteredVersion(
            name, str(version.version), run_id, f"models:/{name}/{version.version}", {}, size
        )

    def set_alias(self, name: str, alias: str, version: str | int) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(name, alias)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def get_version(self, name: str, version: str | int) -> ModelVersion:
        return self.client.get_model_version(name, str(version))

    def versions(self, name: str) -> list[ModelVersion]:
        """All versions, oldest first (``aliases`` is empty here: use get_version for those)."""
        found = self.client.search_model_versions(f"name = '{name}'")
        return sorted(found, key=lambda v: int(v.version))

    def resolve(self, model_uri: str) -> ModelVersion:
        """``models:/name@alias`` or ``models:/name/version`` -> the registered version."""
        if not model_uri.startswith("models:/"):
            raise ValueError(
                f"expected models:/<name>@<alias> or models:/<name>/<version>, got {model_uri!r}"
            )
        rest = model_uri[len("models:/") :]
        if "@" in rest:
            name, alias = rest.split("@", 1)
            version = self.get_version_by_alias(name, alias)
            if version is None:
                raise LookupError(
                    f"{name} has no version with alias {alias!r} in {self.registry_uri}"
                )
            return version
        name, _, number = rest.partition("/")
        if not number.isdigit():
            raise ValueError(f"model URI {model_uri!r} names neither an alias nor a version number")
        return self.get_version(name, number)

    def download_bundle(self, version: ModelVersion, dst: str | Path) -> Path:
        """Copy a version's bundle to ``dst`` and return the bundle folder."""
        uri = self.client.get_model_version_download_uri(version.name, version.version)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dst), tracking_uri=self.tracking_uri
        )
        found = list(Path(local).rglob("selfimprove_model.json"))
        if not found:
            raise FileNotFoundError(f"{version.name}/{version.version} holds no selfimprove bundle")
        return found[0].parent

    def load_bundle(
        self, model_uri: str, *, backbone: str | None = None
    ) -> tuple[ModelVersion, ModelBundle]:
        version = self.resolve(model_uri)
        with tempfile.TemporaryDirectory(prefix="selfimprove-load-") as tmp:
            bundle = ModelBundle.load(
                self.download_bundle(version, tmp),
                backbone=backbone,
                base_loader=self.full_weights,
            )
        bundle.source_uri = f"models:/{version.name}/{version.version}"
        return version, bundle

    def full_weights(self, model_uri: str) -> dict[str, torch.Tensor]:
        """The full fine-tuned weights stored in a registered version (an adapter's base)."""
        version = self.resolve(model_uri)
        with tempfile.TemporaryDirectory(prefix="selfimprove-base-") as tmp:
            path = self.download_bundle(version, tmp) / FULL_FILE
            if not path.is_file():
                raise FileNotFoundError(
                    f"{version.name}/{version.version} is not a full fine-tune (no {FULL_FILE})"
                )
            return load_file(str(path))


_CACHE: dict[tuple[str, str, str], ModelPredictor] = {}
_CACHE_LOCK = threading.Lock()


def load_predictor(
    model_uri: str,
    tracking_uri: str,
    *,
    registry_uri: str | None = None,
    backbone: str | None = None,
) -> ModelPredictor:
    """A predictor for ``models:/name@alias`` or ``models:/name/N``, cached per process.

    The alias is resolved on every call (cheap), the model is loaded once per
    (store, name, version): loading takes seconds and must never happen per request.
    """
    registry = ModelRegistry(tracking_uri, registry_uri=registry_uri)
    version = registry.resolve(model_uri)
    key = (registry.registry_uri, version.name, str(version.version))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        _, bundle = registry.load_bundle(
            f"models:/{version.name}/{version.version}", backbone=backbone
        )
        bundle.merge_for_inference()
        predictor = ModelPredictor(bundle, name=version.name, version=str(version.version))
        _CACHE[key] = predictor
        return predictor


def clear_predictor_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()

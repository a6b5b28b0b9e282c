"""A training job's inputs as MLflow artifacts, for a job that runs on another machine.

A training pod on Kubernetes reads nothing from the Dagster host. The launcher therefore logs
the dataset file and, when the backbone is a local folder, the backbone as artifacts of one run
in the ``selfimprove-training-inputs`` experiment (``stage_training_inputs``) and passes their
``runs:/`` URIs; the job downloads them before it trains (``fetch_input``). A backbone folder
already logged with the same content is not uploaded again: runs carry its digest as a tag.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

logger = logging.getLogger(__name__)

INPUTS_EXPERIMENT = "selfimprove-training-inputs"
ARTIFACT_URI_PREFIXES = ("runs:/", "mlflow-artifacts:/")
BACKBONE_DIGEST_TAG = "backbone_digest"
# Where a process on another machine can reach the tracking server / the artifact store.
REMOTE_TRACKING_SCHEMES = ("http", "https", "databricks", "postgresql", "mysql", "mssql")


@dataclass(frozen=True)
class StagedInputs:
    run_id: str
    dataset_uri: str
    backbone_uri: str  # a ``runs:/`` URI, or the backbone as given when it is no local folder


def is_artifact_uri(value: str | None) -> bool:
    """Whether ``value`` is an MLflow artifact URI that ``fetch_input`` downloads."""
    return bool(value) and str(value).startswith(ARTIFACT_URI_PREFIXES)


def _scheme(uri: str) -> str:
    scheme = urlparse(uri).scheme
    return scheme if len(scheme) > 1 else ""  # "C:\\..." is a path, not a scheme


def unreachable_from_a_pod(tracking_uri: str, artifact_root: str) -> list[str]:
    """Why a process on another machine could not use this MLflow store (empty: it can)."""
    problems = []
    if _scheme(tracking_uri) not in REMOTE_TRACKING_SCHEMES:
        problems.append(
            f"tracking URI {tracking_uri!r} is local to this machine: use an MLflow server "
            "(http://...) or a database server"
        )
    if _scheme(artifact_root) in ("", "file"):
        problems.append(
            f"artifact root {artifact_root!r} is a local path: use an object store (s3://...) "
            "or the MLflow server's proxy (mlflow-artifacts://host:port/path)"
        )
    elif "://" not in artifact_root:  # the registry takes a root without "//" for a path
        problems.append(f"artifact root {artifact_root!r}: write it scheme://host/path")
    return problems


def folder_digest(folder: str | Path) -> str:
    """sha256 over a folder's relative file names and contents."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _experiment_id(client: MlflowClient, artifact_root: str | None) -> str:
    found = client.get_experiment_by_name(INPUTS_EXPERIMENT)
    if found is not None:
        return found.experiment_id
    location = None
    if artifact_root:
        root = artifact_root.rstrip("/")
        if not _scheme(root):
            root = Path(root).resolve().as_uri()
        location = f"{root}/{INPUTS_EXPERIMENT}"
    try:
        return client.create_experiment(INPUTS_EXPERIMENT, artifact_location=location)
    except MlflowException:  # created by a concurrent launch
        found = client.get_experiment_by_name(INPUTS_EXPERIMENT)
        if found is None:
            raise
        return found.experiment_id


def _logged_backbone(client: MlflowClient, experiment_id: str, digest: str) -> str | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{BACKBONE_DIGEST_TAG} = '{digest}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return f"runs:/{runs[0].info.run_id}/backbone" if runs else None


def stage_training_inputs(
    tracking_uri: str,
    artifact_root: str | None,
    *,
    dataset: str | Path,
    backbone: str,
    tags: dict[str, str] | None = None,
) -> StagedInputs:
    """Log ``dataset`` (a file) and a local ``backbone`` folder as artifacts of a new run."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = _experiment_id(client, artifact_root)
    dataset = Path(dataset)
    if not dataset.is_file():
        raise FileNotFoundError(f"dataset {dataset} does not exist")
    local_backbone = Path(backbone).is_dir()
    digest = folder_digest(backbone) if local_backbone else ""
    backbone_uri = _logged_backbone(client, experiment_id, digest) if local_backbone else backbone
    run = client.create_run(experiment_id, run_name="training-inputs", tags=dict(tags or {}))
    run_id = run.info.run_id
    try:
        client.log_artifact(run_id, str(dataset), artifact_path="dataset")
        if backbone_uri is None:
            client.log_artifacts(run_id, backbone, artifact_path="backbone")
            client.set_tag(run_id, BACKBONE_DIGEST_TAG, digest)
            backbone_uri = f"runs:/{run_id}/backbone"
        client.log_param(run_id, "backbone", backbone_uri)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    logger.info("training inputs logged in run %s (backbone %s)", run_id, backbone_uri)
    return StagedInputs(
        run_id=run_id,
        dataset_uri=f"runs:/{run_id}/dataset/{dataset.name}",
        backbone_uri=backbone_uri,
    )


def fetch_input(uri: str, directory: str | Path, tracking_uri: str) -> str:
    """Download an artifact URI (file or folder) under ``directory``; return the local path."""
    return mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(directory), tracking_uri=tracking_uri
    )

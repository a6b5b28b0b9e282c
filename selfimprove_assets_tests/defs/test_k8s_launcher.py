"""The Kubernetes launcher: inputs as MLflow artifact URIs, a pod that mounts nothing from the host.

No cluster here: the pod manifest is rendered the way ``launch`` builds it (dagster-k8s'
``build_pod_body`` over the base spec and the staged command) inside a real asset run, against a
real local MLflow store (SQLite tracking, local artifact root), and the URIs it names are
downloaded back and compared with what was staged.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from selfimprove_assets.defs.resources import (
    BACKBONE_BASE,
    K8sTrainingJobResource,
    TrainingRequest,
)
from selfimprove_assets.lib.models.backbone import save_tiny_backbone
from selfimprove_assets.lib.models.dataset import write_dataset
from selfimprove_assets.lib.models.training_inputs import (
    fetch_input,
    folder_digest,
    unreachable_from_a_pod,
)
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("k8s")
    backbone = save_tiny_backbone(root / "backbone", vocabulary())
    write_dataset(root / "train.parquet", make_corpus(n_per_type=2, seed=3))
    return {
        "root": root,
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_root": str(root / "artifacts"),
        "backbone": str(backbone),
        "dataset": root / "train.parquet",
    }


def _request(store: dict[str, Any], **changes: Any) -> TrainingRequest:
    values: dict[str, Any] = {
        "model_type": "extractor",
        "dataset": store["dataset"],
        "base": BACKBONE_BASE,
        "tracking_uri": store["tracking_uri"],
        "artifact_root": store["artifact_root"],
        "backbone": store["backbone"],
        **changes,
    }
    return TrainingRequest(**values)


def _in_a_run(resource: K8sTrainingJobResource, action: str, request: TrainingRequest) -> Any:
    """Call ``resource.<action>(context, request)`` inside a real asset run."""

    @dg.asset
    def call(context: dg.AssetExecutionContext, trainer: K8sTrainingJobResource) -> Any:
        return getattr(trainer, action)(context, request)

    result = dg.materialize([call], resources={"trainer": resource}, raise_on_error=False)
    if not result.success:
        failure = result.get_step_failure_events()[0].step_failure_data.error
        raise RuntimeError(failure.message if failure else "the run failed")
    return result.output_for_node("call")


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def _value_after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_rendered_pod_mounts_nothing_and_names_mlflow_uris(
    store: dict[str, Any], tmp_path: Path
) -> None:
    resource = K8sTrainingJobResource(image="selfimprove:test")
    manifest = _in_a_run(resource, "render_pod", _request(store))
    assert not {"hostPath", "host_path", "volumeMounts"} & _keys(manifest)
    assert "hostPath" not in json.dumps(manifest)
    (container,) = manifest["spec"]["containers"]
    assert container["image"] == "selfimprove:test"
    assert manifest["spec"]["restartPolicy"] == "Never"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "SELFIMPROVE_DEVICE", "value": "cuda"} in container["env"]
    command = container["command"]
    assert command[:3] == ["python", "-m", "training_jobs.train"]
    dataset_uri = _value_after(command, "--dataset")
    backbone_uri = _value_after(command, "--backbone")
    assert dataset_uri.startswith("runs:/") and dataset_uri.endswith("/dataset/train.parquet")
    assert backbone_uri.startswith("runs:/") and backbone_uri.endswith("/backbone")
    mlflow_store = (store["tracking_uri"], store["artifact_root"])  # local only in this test
    assert [a for a in command if str(store["root"]) in a and a not in mlflow_store] == []

    # what the pod would download is what was staged
    dataset = fetch_input(dataset_uri, tmp_path / "dataset", store["tracking_uri"])
    assert Path(dataset).read_bytes() == store["dataset"].read_bytes()
    backbone = fetch_input(backbone_uri, tmp_path / "backbone", store["tracking_uri"])
    assert folder_digest(backbone) == folder_digest(store["backbone"])

    # a second launch logs its dataset again but reuses the backbone already uploaded
    again = _in_a_run(resource, "render_pod", _request(store))["spec"]["containers"][0]["command"]
    assert _value_after(again, "--backbone") == backbone_uri
    assert _value_after(again, "--dataset") != dataset_uri


def test_a_hub_backbone_name_is_passed_as_it_is(store: dict[str, Any]) -> None:
    resource = K8sTrainingJobResource(image="selfimprove:test")
    request = _request(store, backbone="sentence-transformers/all-MiniLM-L6-v2")
    command = _in_a_run(resource, "pod_command", request)
    assert _value_after(command, "--backbone") == "sentence-transformers/all-MiniLM-L6-v2"
    assert _value_after(command, "--dataset").startswith("runs:/")


def test_a_base_spec_with_a_host_path_is_refused(store: dict[str, Any], tmp_path: Path) -> None:
    spec = tmp_path / "pod.yaml"
    spec.write_text(
        "spec:\n  volumes:\n    - {name: data, hostPath: {path: /srv/selfimprove}}\n"
        "  containers:\n    - name: dagster-pipes-execution\n",
        encoding="utf-8",
    )
    resource = K8sTrainingJobResource(image="selfimprove:test", base_pod_spec_file=str(spec))
    with pytest.raises(RuntimeError, match="mounts host paths \\(data\\)"):
        _in_a_run(resource, "render_pod", _request(store))


def test_launch_refuses_an_mlflow_store_a_pod_cannot_reach(store: dict[str, Any]) -> None:
    resource = K8sTrainingJobResource(image="selfimprove:test")
    with pytest.raises(RuntimeError, match="a training pod cannot use this MLflow store"):
        _in_a_run(resource, "launch", _request(store))
    assert len(unreachable_from_a_pod(store["tracking_uri"], store["artifact_root"])) == 2
    assert unreachable_from_a_pod("http://mlflow:5000", "mlflow-artifacts://mlflow:5000/a") == []
    assert unreachable_from_a_pod("https://mlflow.example", "s3://bucket/mlflow") == []
    assert len(unreachable_from_a_pod("http://mlflow:5000", "file:///data/mlflow")) == 1
    assert len(unreachable_from_a_pod("http://mlflow:5000", "mlflow-artifacts:/x")) == 1


def test_the_checked_in_pod_spec_mounts_nothing_from_the_host() -> None:
    spec = K8sTrainingJobResource(image="selfimprove:test").pod_spec()
    assert "hostPath" not in json.dumps(spec)
    assert not spec.get("volumes")

"""The pod the Kubernetes launcher renders, and deploy/train-job.yaml, against the API's models.

No cluster here: the manifests are checked against the ``kubernetes`` client's models (the
OpenAPI types of the Kubernetes API it is generated from). Every key must be a field of its
model (a misspelt or misplaced field is refused, where the API server would drop or reject it),
every value of the model's type, and the model must build (its required fields present).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import kubernetes.client.models as k8s_models
import pytest
import yaml
from kubernetes.client import ApiClient

from selfimprove_assets.defs.resources import K8sTrainingJobResource
from selfimprove_assets_tests.defs.test_k8s_launcher import _in_a_run, _request
from selfimprove_assets_tests.defs.test_k8s_launcher import store as store  # the fixture

REPO = Path(__file__).resolve().parents[2]
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
    "datetime": (str, datetime.datetime),
    "date": (str, datetime.date),
}


def strict(data: Any, type_name: str, path: str = "") -> list[str]:
    """Every problem of ``data`` read as the Kubernetes model ``type_name`` (e.g. ``V1Pod``)."""
    if type_name.startswith("list["):
        if not isinstance(data, list):
            return [f"{path or '.'}: a list expected, got {type(data).__name__}"]
        inner = type_name[5:-1]
        return [p for i, item in enumerate(data) for p in strict(item, inner, f"{path}[{i}]")]
    if type_name.startswith(("dict(", "dict[")):  # dict(str, str) or dict[str, str]
        if not isinstance(data, dict):
            return [f"{path or '.'}: a mapping expected, got {type(data).__name__}"]
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        return [p for k, v in data.items() for p in strict(v, inner, f"{path}.{k}")]
    if type_name in PRIMITIVES:
        if isinstance(data, bool) and type_name != "bool" and type_name != "object":
            return [f"{path}: {type_name} expected, got a boolean"]
        if not isinstance(data, PRIMITIVES[type_name]):
            return [f"{path}: {type_name} expected, got {type(data).__name__} {data!r}"]
        return []
    model = getattr(k8s_models, type_name)
    if not isinstance(data, dict):
        return [f"{path or '.'}: a {type_name} mapping expected, got {type(data).__name__}"]
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    problems = [f"{path}.{k}: no such field of {type_name}" for k in data if k not in fields]
    for key, value in data.items():
        if key in fields and value is not None:
            problems += strict(value, model.openapi_types[fields[key]], f"{path}.{key}")
    return problems


def validated(data: dict[str, Any], type_name: str) -> Any:
    """The model built from ``data``, after ``strict`` found nothing wrong."""
    problems = strict(data, type_name)
    assert not problems, "\n".join(problems)
    return ApiClient()._ApiClient__deserialize(data, type_name)  # type: ignore[attr-defined]


def test_the_checker_refuses_unknown_misplaced_and_mistyped_fields() -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}}
    assert strict(pod, "V1Pod") == []
    assert strict({"spec": {"containers": [], "restartPolicey": "Never"}}, "V1Pod") == [
        ".spec.restartPolicey: no such field of V1PodSpec"
    ]
    assert strict({"spec": {"containers": [{"name": "c", "limits": {}}]}}, "V1Pod") == [
        ".spec.containers[0].limits: no such field of V1Container"
    ]
    assert strict({"spec": {"containers": {"name": "c"}}}, "V1Pod") == [
        ".spec.containers: a list expected, got dict"
    ]
    with pytest.raises(ValueError, match="name"):  # a container without its required name
        validated({"spec": {"containers": [{"image": "i"}]}}, "V1Pod")


def test_the_checked_in_base_pod_spec_is_a_pod_spec() -> None:
    loaded = yaml.safe_load((REPO / "deploy" / "train-job.yaml").read_text(encoding="utf-8"))
    pod = validated(loaded, "V1Pod")
    assert pod.spec.restart_policy == "Never"
    (container,) = pod.spec.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    # the same spec as the pod template of a Job (what a team would `kubectl apply`)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "selfimprove-train"},
        "spec": {"template": loaded, "backoffLimit": 0},
    }
    assert validated(job, "V1Job").spec.template.spec.containers[0].name == container.name


def test_the_rendered_training_pod_is_a_pod(store: dict[str, Any]) -> None:
    resource = K8sTrainingJobResource(image="selfimprove:test")
    manifest = _in_a_run(resource, "render_pod", _request(store))
    # no kind/apiVersion: the client posts it to the pods endpoint (create_namespaced_pod)
    pod = validated(manifest, "V1Pod")
    (container,) = pod.spec.containers
    assert container.image == "selfimprove:test"
    assert container.command[:3] == ["python", "-m", "training_jobs.train"]
    assert pod.spec.node_selector == {"selfimprove/pool": "gpu"}

"""The asset graph as a checked-in snapshot, so that a change to it is a visible diff.

Each asset's key, upstream keys, group, tags, kinds and checks, and each job's assets and tags,
are compared with ``asset_graph.json``. After a deliberate change to the graph, refresh the
file with ``SELFIMPROVE_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest -q
selfimprove_assets_tests/defs/test_asset_graph.py`` and commit the diff with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.lib.settings import load_settings

SNAPSHOT = Path(__file__).with_name("asset_graph.json")
UPDATE = "SELFIMPROVE_UPDATE_SNAPSHOT"


def graph_spec(definitions: dg.Definitions) -> dict[str, Any]:
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault(check.asset_key.to_user_string(), []).append(check.name)
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        name = key.to_user_string()
        assets[name] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "tags": dict(sorted(node.tags.items())),
            "kinds": sorted(node.kinds),
            "checks": sorted(checks.get(name, [])),
        }
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
            "tags": dict(sorted(job.tags.items())),
        }
    sensors = sorted(sensor.name for sensor in repo.sensor_defs)
    return {"assets": assets, "jobs": jobs, "sensors": sensors}


def test_the_asset_graph_matches_its_snapshot(tmp_path: Path) -> None:
    spec = graph_spec(build_definitions(load_settings({"SELFIMPROVE_HOME": str(tmp_path)})))
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE) == "1":
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot yet: run once with {UPDATE}=1"
    recorded = json.loads(SNAPSHOT.read_text())
    assert spec == recorded, (
        f"the asset graph changed; if deliberate, refresh {SNAPSHOT.name} with {UPDATE}=1"
    )


def test_a_changed_graph_differs_from_the_snapshot(tmp_path: Path) -> None:
    definitions = build_definitions(load_settings({"SELFIMPROVE_HOME": str(tmp_path)}))

    @dg.asset(group_name="classifier_loop", deps=["classifier_candidate"])
    def classifier_extra() -> None: ...

    changed = dg.Definitions.merge(definitions, dg.Definitions(assets=[classifier_extra]))
    recorded = json.loads(SNAPSHOT.read_text())
    assert graph_spec(changed) != recorded
    assert graph_spec(changed)["assets"]["classifier_extra"]["deps"] == ["classifier_candidate"]

"""The layer contract, checked on the source (``ast``, nothing imported).

Imports point down: the entry points (``cli``, ``demo``, ``runner``, ``loop_driver``, ``api``,
``defs``, ``definitions``) → ``lib/loop`` → the rest of ``lib`` → ``kinds``/``types``/``text``.
``lib`` imports no Dagster, FastAPI or Typer; the training job imports ``dagster_pipes`` and
``lib`` below ``lib/loop`` only; torch, transformers and peft are imported only in
``lib/models``, and the modules that read plain rules load none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from selfimprove_assets_tests.import_graph import Graph, Import, project_imports, project_modules

PROJECT = "selfimprove_assets"
LIB = f"{PROJECT}.lib"
BOTTOM = {f"{LIB}.kinds", f"{LIB}.types", f"{LIB}.text"}
ENTRY_POINTS = ("cli", "demo", "runner", "loop_driver", "api", "defs", "definitions")
FRAMEWORKS = ("dagster", "dagster_pipes", "fastapi", "starlette", "typer", "uvicorn")
HEAVY = ("torch", "transformers", "peft")
HEAVY_HOME = f"{LIB}.models"
# Modules that read plain data rules: loading one must not load torch, transformers or peft.
LIGHT = (
    HEAVY_HOME,
    f"{LIB}.models.needs",
    f"{LIB}.models.dataset",
    f"{LIB}.models.tags",
    f"{LIB}.models.names",
    f"{LIB}.kinds",
    f"{LIB}.settings",
    f"{LIB}.deployment",
    f"{LIB}.store.repository",
    f"{LIB}.loop.monitor",
    f"{LIB}.loop.curate",
    f"{LIB}.loop.promote",
    f"{LIB}.loop.cycle",
    f"{PROJECT}.defs.rules",
    f"{PROJECT}.defs.feedback.sensors",
)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> int | None:
    """3 entry points, 2 ``lib/loop``, 1 the rest of ``lib``, 0 the bottom; None otherwise."""
    if any(_within(module, name) for name in BOTTOM):
        return 0
    if _within(module, f"{LIB}.loop"):
        return 2
    if _within(module, LIB):
        return 1
    if any(_within(module, f"{PROJECT}.{name}") for name in ENTRY_POINTS):
        return 3
    return None


def _top(name: str) -> str:
    return name.split(".")[0]


def violations(imports: Iterable[Import]) -> list[str]:
    """Every import that breaks the contract, as ``importer:line imports target (rule)``."""
    found: list[str] = []
    for edge in imports:
        where = f"{edge.importer}:{edge.line} imports {edge.target}"
        own, theirs = layer(edge.importer), layer(edge.target)
        if own is not None and theirs is not None and theirs > own:
            found.append(f"{where} (a lower layer imports a higher one)")
        if _within(edge.importer, LIB) and _top(edge.target) in FRAMEWORKS:
            found.append(f"{where} (lib imports no Dagster, FastAPI or Typer)")
        if _top(edge.target) in HEAVY and not (
            _within(edge.importer, HEAVY_HOME) and edge.importer != HEAVY_HOME
        ):
            found.append(f"{where} (torch, transformers and peft belong in lib/models)")
        if _within(edge.importer, "training_jobs"):
            allowed = _within(edge.target, LIB) and not _within(edge.target, f"{LIB}.loop")
            if _within(edge.target, PROJECT) and not allowed:
                found.append(f"{where} (the training job imports lib below lib/loop only)")
            if _top(edge.target) in FRAMEWORKS and _top(edge.target) != "dagster_pipes":
                found.append(f"{where} (the training job imports dagster_pipes only)")
    return found


def heavy_loads(graph: Graph, modules: Iterable[str]) -> list[str]:
    """Each light module whose loading reaches a heavy library, with the chain that does."""
    found = []
    for module in modules:
        chains = graph.loaded_by(module)
        for name, chain in chains.items():
            if _top(name) in HEAVY:
                found.append(" > ".join(chain))
                break
    return found


def test_the_source_keeps_the_layers() -> None:
    assert violations(project_imports()) == []


def test_plain_rules_load_no_torch() -> None:
    graph = Graph(project_imports(), project_modules())
    missing = [m for m in LIGHT if m not in graph.edges]
    assert missing == [], f"listed as light but not in the source: {missing}"
    assert heavy_loads(graph, LIGHT) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("relative", "text", "rule"),
    [
        ("selfimprove_assets/lib/kinds.py", "from selfimprove_assets.lib import loop\n", "lower"),
        ("selfimprove_assets/lib/metrics.py", "def f():\n    import dagster\n", "no Dagster"),
        ("selfimprove_assets/lib/x.py", "from ..api.app import create_app\n", "lower"),
        ("selfimprove_assets/lib/store/y.py", "from fastapi import FastAPI\n", "no Dagster"),
        ("selfimprove_assets/defs/z.py", "import torch\n", "belong in lib/models"),
        ("selfimprove_assets/lib/models/__init__.py", "import peft\n", "belong in lib/models"),
        ("training_jobs/t.py", "from selfimprove_assets.lib.loop import cycle\n", "below lib/loop"),
        ("training_jobs/u.py", "import dagster\n", "dagster_pipes only"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path: Path, relative: str, text: str, rule: str) -> None:
    root = _tree(tmp_path, {relative: text})
    found = violations(project_imports(root))
    assert len(found) >= 1 and all(rule in f for f in found), found


def test_a_light_module_that_loads_torch_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "selfimprove_assets/lib/models/__init__.py": "",
            "selfimprove_assets/lib/models/needs.py": "from . import heavy\n",
            "selfimprove_assets/lib/models/heavy.py": "import torch\n",
            "selfimprove_assets/lib/models/lazy.py": "def f():\n    import torch\n",
            "selfimprove_assets/lib/models/typed.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
            ),
        },
    )
    graph = Graph(project_imports(root), project_modules(root))
    assert violations(project_imports(root)) == []
    found = heavy_loads(graph, [f"{LIB}.models.needs", f"{LIB}.models.lazy", f"{LIB}.models.typed"])
    assert found == [f"{LIB}.models.needs > {LIB}.models.heavy > torch"]


def test_the_check_reads_the_whole_source() -> None:
    modules = {edge.importer for edge in project_imports()}
    assert set(project_modules()) >= modules
    for expected in (f"{PROJECT}.api.app", f"{PROJECT}.cli.main", f"{LIB}.loop.cycle"):
        assert expected in modules
    assert "training_jobs.train" in modules

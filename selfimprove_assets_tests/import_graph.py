"""The project's import graph read from the source with ``ast``, for the layer contract.

Nothing is imported to build it: each ``.py`` file is parsed, and every ``import`` statement is
recorded with whether it runs when the module loads (module level, outside ``if
TYPE_CHECKING:`` and outside function bodies) or only later (inside a function).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("selfimprove_assets", "training_jobs")


@dataclass(frozen=True)
class Import:
    """One imported module name (``a.b.c``; ``from a.b import c`` gives ``a.b.c`` as well)."""

    importer: str
    target: str
    line: int
    on_load: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in ``source``, the text of ``module``."""
    found: list[Import] = []

    def visit(nodes: Iterable[ast.stmt], on_load: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append(Import(module, alias.name, node.lineno, on_load))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    # ``from a import b`` loads ``a`` and, when b is a submodule, ``a.b``.
                    found.append(Import(module, f"{base}.{alias.name}", node.lineno, on_load))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, False)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, False)
                visit(node.orelse, on_load)
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)], on_load)
                        for child in children:
                            if isinstance(child, ast.ExceptHandler | ast.match_case):
                                visit(child.body, on_load)

    visit(ast.parse(source).body, True)
    return found


def _sources(root: Path, packages: Iterable[str]) -> Iterator[Path]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def project_modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[str]:
    return [module_name(path, root) for path in _sources(root, packages)]


def project_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> Iterator[Import]:
    for path in _sources(root, packages):
        yield from imports_of(path.read_text(), module_name(path, root), path.name == "__init__.py")


class Graph:
    """Which modules a module loads, following the project's own packages."""

    def __init__(self, edges: Iterable[Import], modules: Iterable[str] = ()) -> None:
        self.edges: dict[str, list[Import]] = {module: [] for module in modules}
        for edge in edges:
            self.edges.setdefault(edge.importer, []).append(edge)

    def _project_module(self, target: str) -> str | None:
        """The project module ``target`` names (``a.b.C`` names module ``a.b``), if any."""
        while target and target not in self.edges:
            target = target.rpartition(".")[0]
        return target or None

    def loaded_by(self, module: str) -> dict[str, list[str]]:
        """Each name loading ``module`` imports, with one chain of modules that leads to it."""
        chains: dict[str, list[str]] = {module: [module]}
        todo = [module]
        while todo:
            current = todo.pop()
            for edge in self.edges.get(current, []):
                if not edge.on_load:
                    continue
                names = [edge.target]
                # Loading a.b.c first loads the packages a and a.b.
                parts = edge.target.split(".")
                names += [".".join(parts[:i]) for i in range(1, len(parts))]
                for name in names:
                    inner = self._project_module(name) or name
                    if inner not in chains:
                        chains[inner] = [*chains[current], inner]
                        if inner in self.edges:
                            todo.append(inner)
        return chains

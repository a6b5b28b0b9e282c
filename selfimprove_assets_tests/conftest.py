from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from selfimprove_assets_tests.postgres_server import create_database, postgres_server  # noqa: E402


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> str:
    return create_database(postgres_admin_url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home for the settings, a working directory without a ``selfimprove.toml``, and
    none of the outer environment's database, MLflow or config-file variables."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for var in (
        "SELFIMPROVE_DATABASE_URL",
        "SELFIMPROVE_MLFLOW_TRACKING_URI",
        "SELFIMPROVE_CONFIG",
    ):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return create_database(request.getfixturevalue("postgres_admin_url"))


# Tests that need hardware or tools a machine may lack are not skipped (a skip reads as a pass
# that did not happen): they are deselected where the machine lacks what they need, named in
# the summary, and run where it has it (a GPU machine runs `pytest -m cuda`).
MACHINE_MARKERS = ("cuda", "no_cuda", "docker")


def _machine_has(marker: str) -> bool:
    if marker in ("cuda", "no_cuda"):
        import torch

        return torch.cuda.is_available() == (marker == "cuda")
    return compose_command() is not None


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) where the client has it, else Debian's ``docker-compose`` (1.29;
    v2 is not packaged there), else None."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy and subprocess.run([legacy, "version"], capture_output=True).returncode == 0:
        return [legacy]
    return None


def _needs(item: pytest.Item) -> list[str]:
    return [m for m in MACHINE_MARKERS if item.get_closest_marker(m) is not None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has: dict[str, bool] = {}
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        needs = _needs(item)
        for marker in needs:
            if marker not in has:
                has[marker] = _machine_has(marker)
        (keep if all(has[m] for m in needs) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config.stash[_DESELECTED] = [
            f"{item.nodeid} (needs {', '.join(_needs(item))})" for item in dropped
        ]


_DESELECTED = pytest.StashKey[list[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    dropped = config.stash.get(_DESELECTED, [])
    if dropped:
        terminalreporter.write_sep(
            "-", f"{len(dropped)} deselected: this machine lacks what they need"
        )
        for line in dropped:
            terminalreporter.write_line(line)

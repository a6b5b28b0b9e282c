"""Fixtures of the image tests (marker ``image``, run by ``make test-image``, which builds the
images first): the built image, and the containers of a test, removed at teardown with the end
of each one's log attached to a failed test's report."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from selfimprove_assets_tests.image.docker import IMAGE, POSTGRES_IMAGE, Containers, docker

CONTAINERS = pytest.StashKey[Containers]()
TIMINGS: list[str] = []


@pytest.fixture(scope="session")
def image() -> str:
    for name in (IMAGE, POSTGRES_IMAGE):
        found = docker("image", "inspect", name, check=False)
        assert found.returncode == 0, (
            f"image {name} is not built: run `make test-image` (scripts/test-image.sh), which "
            "builds it before these tests"
        )
    return IMAGE


@pytest.fixture
def containers(request: pytest.FixtureRequest, image: str) -> Iterator[Containers]:
    started = Containers()
    request.node.stash[CONTAINERS] = started
    yield started
    started.remove_all()


@pytest.fixture
def shared_root(tmp_path: Path) -> Path:
    """A folder mounted at the same path in the containers, writable by the image's user."""
    root = tmp_path / "deployment"
    root.mkdir()
    os.chmod(root, 0o777)
    return root


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    started = item.stash.get(CONTAINERS, None)
    if report.failed and started is not None:
        for name, log in started.logs().items():
            report.sections.append((f"container {name} log", log[-8000:]))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("image tests")
        for line in TIMINGS:
            terminalreporter.write_line(line)

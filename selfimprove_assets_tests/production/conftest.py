"""Fixtures of the production-path tests: a world to start from, and deployments to start.

Every deployment a test starts is stopped at teardown (each service's whole process group); when
a test fails, the end of each service's log is attached to its report. The wall time of each
test's phases is shown in the terminal summary.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from selfimprove_assets_tests.postgres_server import create_database
from selfimprove_assets_tests.production.deployment import (
    Backend,
    World,
    build_world,
    postgres_backend,
    sqlite_backend,
)
from selfimprove_assets_tests.production.stack import Stack, StartDeployment, start_stack
from selfimprove_assets_tests.production.summary import EXCERPTS, TIMINGS

LOG_TAIL_CHARS = 12_000
STACKS = pytest.StashKey[list[Stack]]()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("production-world"))


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """``sqlite`` (the embedded defaults) or ``postgresql`` (the parameter of the test)."""
    if request.param == "sqlite":
        return sqlite_backend()
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    return postgres_backend(create_database(admin_url), create_database(admin_url))


@pytest.fixture
def deploy(
    request: pytest.FixtureRequest, tmp_path: Path, world: World
) -> Iterator[StartDeployment]:
    """Start a deployment on ``backend``; every one started is stopped at teardown."""
    started = request.node.stash.setdefault(STACKS, [])

    def start(backend: Backend) -> Stack:
        stack = start_stack(tmp_path / f"deployment{len(started)}", world, backend, started)
        return stack

    yield start
    for stack in started:
        stack.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for stack in item.stash.get(STACKS, []):
            for name, log in stack.logs().items():
                tail = log[-LOG_TAIL_CHARS:]
                report.sections.append((f"{name} log ({stack.root / 'logs'})", tail))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("production path: wall time")
        for line in TIMINGS:
            terminalreporter.write_line(line)
    for title, lines in EXCERPTS.items():
        terminalreporter.section(f"production path: {title}")
        for line in lines:
            terminalreporter.write_line(line)

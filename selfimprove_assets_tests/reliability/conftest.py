"""Fixtures of the reliability suite: the API harness with real tiny models (shared with the
API tests), and a PostgreSQL server of our own that tests may stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from selfimprove_assets_tests.api.conftest import make_api, tiny_models  # noqa: F401
from selfimprove_assets_tests.reliability.pg_control import (
    ControllablePostgres,
    controllable_postgres,
)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ControllablePostgres]:
    with controllable_postgres() as server:
        yield server

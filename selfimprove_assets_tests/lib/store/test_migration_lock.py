"""Migrators that start at once cannot race: the upgrade holds a PostgreSQL advisory lock.

The API, the Dagster webserver and the daemon each upgrade the feedback store when they start;
on a first start of a deployment they do so on the same empty database at the same moment.
Each round here creates an empty database and releases ``MIGRATORS`` processes (forked, so that
they start within milliseconds of each other) on it through one barrier; every one must succeed
and the schema must end at head, once. Without the lock the rounds fail with duplicate-object
errors (``CREATE TABLE`` by two migrators), or one process finds a half-made schema.
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from selfimprove_assets.lib.store.engine import MIGRATIONS_DIR, make_engine, upgrade_schema
from selfimprove_assets_tests.image.previous_release import create_with_previous_release
from selfimprove_assets_tests.lib.store.test_migrations import TABLES
from selfimprove_assets_tests.postgres_server import create_database

pytestmark = pytest.mark.postgres

MIGRATORS = 4
ROUNDS = 8
HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()  # the newest revision


def _migrate(url: str, barrier: Barrier, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        barrier.wait(timeout=60)
        upgrade_schema(url)
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        errors.put(traceback.format_exc())
        raise SystemExit(1) from None


def test_concurrent_migrators_on_an_empty_database(postgres_admin_url: str) -> None:
    fork = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        url = create_database(postgres_admin_url)
        barrier = fork.Barrier(MIGRATORS)
        errors = fork.Queue()
        workers = [
            fork.Process(target=_migrate, args=(url, barrier, errors)) for _ in range(MIGRATORS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=180)
        alive = [w.pid for w in workers if w.is_alive()]
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        assert not alive, f"round {round_}: migrators {alive} still running after 180 s"
        failures = [errors.get(timeout=5) for w in workers if w.exitcode != 0]
        assert not failures, f"round {round_}: {len(failures)} migrators failed:\n" + "\n".join(
            f[-1500:] for f in failures
        )
        engine = make_engine(url)
        try:
            assert TABLES <= set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v[0] for v in versions] == [HEAD], versions
        finally:
            engine.dispose()


def test_a_database_of_the_previous_release_upgrades(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    """The schema the previous release made, upgraded by this code, equals a fresh one."""
    old, fresh = create_database(postgres_admin_url), create_database(postgres_admin_url)
    create_with_previous_release(old, tmp_path / "previous")
    upgrade_schema(old)
    upgrade_schema(fresh)
    assert _columns(old) == _columns(fresh)


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        found = inspect(engine)
        return {t: sorted(c["name"] for c in found.get_columns(t)) for t in found.get_table_names()}
    finally:
        engine.dispose()

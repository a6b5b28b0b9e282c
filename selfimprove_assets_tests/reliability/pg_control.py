"""A PostgreSQL server of our own that a test may stop and start again (the database "goes
away"). The session's shared server (``postgres_server``) must never be stopped, so fault tests
start a dedicated one on a free loopback port with the same Debian binaries."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from selfimprove_assets_tests.postgres_server import (
    _as_postgres,  # pyright: ignore[reportPrivateUsage]
    _bin_dir,  # pyright: ignore[reportPrivateUsage]
    _free_port,  # pyright: ignore[reportPrivateUsage]
    create_database,
)


@dataclass
class ControllablePostgres:
    """A running server: ``stop()`` kills it at once (no clean shutdown), ``start()`` revives it."""

    bin_dir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql://selfimprove@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._pg_ctl("-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """``-m immediate``: every backend is killed mid-statement, like a crashed host."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def create_database(self) -> str:
        return create_database(self.admin_url)

    def terminate_backend(self, pid: int) -> None:
        """End one client's connection from the server side (``pg_terminate_backend``)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@contextmanager
def controllable_postgres() -> Iterator[ControllablePostgres]:
    bin_dir = _bin_dir()  # a clear error (never a skip) when PostgreSQL is not installed
    root = Path(tempfile.mkdtemp(prefix="selfimprove-pgfault-"))
    if os.geteuid() == 0:  # initdb refuses root; the server runs as the postgres user
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "selfimprove"]
        ),
        check=True,
        capture_output=True,
    )
    server = ControllablePostgres(bin_dir=bin_dir, root=root, port=_free_port())
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)

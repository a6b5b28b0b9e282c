"""A feedback store created by the previous release's migrations (``PREVIOUS_RELEASE``).

The previous release's ``selfimprove_assets`` is taken from git (``git archive``) into a
folder and its own Alembic upgrade run there in a subprocess, so the database is exactly what
a deployment of that release left; the code under test then upgrades it.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

from selfimprove_assets_tests.production.services import PROJECT_ROOT

PREVIOUS_RELEASE = "ca9616c"


def previous_release_code(target: Path) -> Path:
    """Extract the previous release's ``selfimprove_assets`` under ``target``; return it."""
    found = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(
            f"commit {PREVIOUS_RELEASE} (the previous release) is not in this clone's history; "
            "a shallow clone needs `git fetch --unshallow`"
        )
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", PREVIOUS_RELEASE, "selfimprove_assets"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def create_with_previous_release(url: str, workdir: Path) -> None:
    """Run the previous release's ``upgrade_schema(url)`` on ``url`` (an empty database)."""
    code = previous_release_code(workdir)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, selfimprove_assets.lib.store.engine as e; "
            "assert e.__file__.startswith(sys.argv[2]), e.__file__; e.upgrade_schema(sys.argv[1])",
            url,
            str(code),
        ],
        cwd=code,
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the previous release's migration failed:\n{result.stderr}"

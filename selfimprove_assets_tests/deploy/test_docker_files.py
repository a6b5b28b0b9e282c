"""The Dockerfile, docker-compose.yaml and the image's entrypoint, checked without Docker.

This machine has no Docker daemon, so no image is built here. What can be checked is checked
for real: the compose file's services and wiring, every service command run through the
image's entrypoint script with ``--help`` (the project's own console scripts and modules, the
Dagster and MLflow commands and the flags the compose file passes them), the environment
variables read by ``load_settings`` (setting each one changes the settings), and the
Dockerfile's installs against pyproject.toml and constraints.txt.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets_tests.conftest import compose_command

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "docker-entrypoint.sh"
APP_SERVICES = ("api", "dagster-webserver", "dagster-daemon")
ENTRY_COMMANDS = ("api", "webserver", "daemon", "train")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))


def _interpolate(value: Any) -> str:
    """Compose's ``${VAR:-default}`` with the variable unset (the defaults are what runs)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {k: _interpolate(v) for k, v in env.items()}


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def _pin(text: str, package: str) -> str:
    found = re.search(rf"^{package}==([\w.]+)", text, flags=re.MULTILINE)
    assert found, f"{package} is not pinned"
    return found.group(1)


def _entrypoint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )


def test_compose_runs_the_whole_stack() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", *APP_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:")
    for name in ("mlflow", *APP_SERVICES):
        assert services[name]["build"] == "." and services[name]["image"] == "selfimprove:latest"
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["mlflow"]["condition"] == "service_healthy"
        assert services[name]["volumes"] == ["selfimprove-data:/data"]
        assert services[name]["command"][0] in ENTRY_COMMANDS
    assert {"postgres-data", "mlflow-artifacts", "selfimprove-data"} <= set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a file of the repository (the database init script)
                assert (REPO / source).is_file(), f"{name} mounts {source}, which is missing"
                assert volume.endswith(":ro")
            else:
                assert source in compose["volumes"], f"{name}: {source} is no named volume"


def test_app_services_set_only_variables_the_project_reads() -> None:
    services = _compose()["services"]
    dagster_yaml = (REPO / "deploy" / "dagster.postgres.yaml").read_text(encoding="utf-8")
    dagster_names = set(re.findall(r"env:\s*(DAGSTER_[A-Z_]+)", dagster_yaml))
    assert dagster_names == {f"DAGSTER_PG_{k}" for k in ("HOST", "PORT", "USER", "PASSWORD", "DB")}
    for name in APP_SERVICES:
        env = _environment(services[name])
        ours = {k for k in env if k.startswith("SELFIMPROVE_")}
        assert set(env) - ours == dagster_names | {"DAGSTER_HOME"}, name
        # each SELFIMPROVE_* variable is read: leaving it out changes the settings
        full = load_settings(env)
        for var in sorted(ours):
            rest = {k: v for k, v in env.items() if k != var}
            assert load_settings(rest) != full, f"{var} is not read by load_settings"
        assert full.mlflow_tracking_uri == "http://mlflow:5000"
        # MLflow accepts experiment locations on the host of its own default artifact root only
        server = dict(a.split("=", 1) for a in services["mlflow"]["command"] if "=" in a)
        assert server["--default-artifact-root"] == full.mlflow_artifact_root
        assert full.mlflow_artifact_root.startswith("mlflow-artifacts://mlflow:5000/")
        assert str(full.home) == "/data" and env["DAGSTER_HOME"].startswith("/data/")


def test_databases_match_the_postgres_init_script() -> None:
    services = _compose()["services"]
    created = set(
        re.findall(
            r"CREATE DATABASE (\w+);",
            (REPO / "deploy" / "postgres-init.sql").read_text(encoding="utf-8"),
        )
    )
    postgres_db = services["postgres"]["environment"]["POSTGRES_DB"]
    api = _environment(services["api"])
    assert api["DAGSTER_PG_DB"] == postgres_db
    assert api["SELFIMPROVE_DATABASE_URL"].rsplit("/", 1)[1] in created
    mlflow_store = next(a for a in services["mlflow"]["command"] if "backend-store-uri" in a)
    assert _interpolate(mlflow_store).rsplit("/", 1)[1] in created


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("api", "Serve the REST API"),
        ("webserver", "dagster-webserver"),
        ("daemon", "dagster-daemon"),
        ("train", "--dataset"),
    ],
)
def test_every_entrypoint_command_runs(command: str, expected: str, tmp_path: Path) -> None:
    result = _entrypoint(command, "--help", env={"DAGSTER_HOME": str(tmp_path / "dagster")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
    if command in ("webserver", "daemon"):  # the instance the entrypoint chose: SQLite here
        written = (tmp_path / "dagster" / "dagster.yaml").read_text(encoding="utf-8")
        assert written == (REPO / "dagster.yaml").read_text(encoding="utf-8")


def test_the_postgres_instance_is_chosen_when_its_host_is_set(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    result = _entrypoint(
        "daemon", "--help", env={"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "x"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = (home / "dagster.yaml").read_text(encoding="utf-8")
    assert written == (REPO / "deploy" / "dagster.postgres.yaml").read_text(encoding="utf-8")


def test_the_mlflow_service_uses_real_flags_of_mlflow_server() -> None:
    command = _compose()["services"]["mlflow"]["command"]
    assert command[:2] == ["mlflow", "server"]
    result = _entrypoint("mlflow", "server", "--help")  # any other command runs as given
    assert result.returncode == 0, result.stderr[-2000:]
    for arg in command[2:]:
        flag = arg.split("=", 1)[0]
        assert re.search(rf"{re.escape(flag)}\b", result.stdout), f"mlflow server has no {flag}"


def test_dockerfile_installs_what_the_project_pins() -> None:
    dockerfile = _dockerfile()
    constraints = (REPO / "constraints.txt").read_text(encoding="utf-8")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    # the published base stays python:3.11-slim; every stage builds FROM the BASE argument
    assert re.search(r"^ARG BASE=python:3\.11-slim$", dockerfile, flags=re.MULTILINE)
    assert set(re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)) == {"${BASE}"}
    assert 'requires-python = ">=3.11,<3.12"' in pyproject
    torch = _pin(constraints, "torch")
    assert f'"torch=={torch}"' in pyproject
    installs = re.findall(r"pip install (.+)", dockerfile)
    assert [i for i in installs if "torch==" in i] == [
        f'--index-url "${{TORCH_INDEX_URL}}" "torch=={torch}"; fi'
    ]
    assert f"/wheels/torch-{torch}*.whl" in dockerfile  # the local wheel, when given
    assert installs.index([i for i in installs if "torch==" in i][0]) == 1  # torch first
    assert "-c /tmp/constraints.txt -r /tmp/requirements.txt \\" in installs
    assert "--no-deps -e . && rm -rf /app/*.egg-info /app/build" in installs  # the project last
    assert re.search(r"apt-get install -y --no-install-recommends tesseract-ocr", dockerfile)
    # the CA bundle reaches pip as a build secret only
    assert dockerfile.count("--mount=type=secret,id=ca") == 3
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]' in dockerfile
    assert os.access(ENTRYPOINT, os.X_OK)


def test_dockerfile_copies_files_the_build_context_keeps() -> None:
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", "selfimprove_assets_tests"} <= set(ignored)
    sources = [
        src
        for line in re.findall(r"^COPY (.+)$", _dockerfile(), flags=re.MULTILINE)
        if not line.startswith("--from=")  # from another stage, not from the context
        for src in line.split()[:-1]
        if src != ".whl*"  # the optional local torch wheel (git-ignored; none is published)
    ]
    assert "selfimprove_assets" in sources and "training_jobs" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


@pytest.mark.docker
def test_docker_compose_accepts_the_file() -> None:
    """Compose's own validation (v2 where the client has it; Debian packages only 1.29)."""
    compose = compose_command()
    assert compose is not None, "no docker compose: the docker marker should deselect this"
    result = subprocess.run(
        [*compose, "-f", str(REPO / "docker-compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

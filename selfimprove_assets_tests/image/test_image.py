"""What the built image is: not root, every entrypoint answers, no secret in any layer.

The image is the one ``make test-image`` builds (scripts/build-image.sh): the Debian base made
here, the machine's CA bundle passed as a build secret, the local torch wheel. Its saved layers
are scanned for the certificates that only the machine's bundle has (the image's own Debian and
certifi bundles are public), for the test deployment's tokens and for files that carry
credentials; the history's commands must not carry them either.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from selfimprove_assets_tests.image.conftest import TIMINGS
from selfimprove_assets_tests.image.docker import DOCKER, docker, run_once
from selfimprove_assets_tests.production.deployment import ADMIN_TOKEN, REVIEWER_TOKEN

pytestmark = pytest.mark.image

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.+?)-----END CERTIFICATE-----", re.DOTALL)
# names of files that hold credentials, wherever they lie in a layer
SECRET_FILES = re.compile(
    r"(^|/)(\.env|\.netrc|\.pypirc|selfimprove\.toml|id_rsa|\.git-credentials)$"
)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["api", "--help"], "Serve the REST API"),
        (["webserver", "--help"], "dagster-webserver"),
        (["daemon", "--help"], "dagster-daemon"),
        (["train", "--help"], "--dataset"),
        (["mlflow", "server", "--help"], "--backend-store-uri"),
        (["selfimprove", "--help"], "serve"),
    ],
)
def test_every_entrypoint_answers_inside_the_image(
    image: str, command: list[str], expected: str
) -> None:
    result = run_once(image, *command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout


def test_the_image_runs_as_a_user_that_is_not_root(image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] not in ("", "root", "0"), config["User"]
    result = run_once(image, "sh", "-c", "id -u; touch /data/x && touch /app/x 2>&1; true")
    uid, *rest = result.stdout.split("\n")
    assert uid != "0" and int(uid) > 999, result.stdout
    assert "Permission denied" in result.stdout + result.stderr  # /app is not the user's
    assert config["Healthcheck"]["Test"][-1] == "/app/deploy/healthcheck.py", config


def _machine_only_certificates(image: str) -> list[bytes]:
    """Certificates of the machine's bundle that neither the image's Debian bundle nor its
    certifi bundle has (its own proxy's CA, say): what the build secret adds."""
    mine = set(PEM.findall(CA_BUNDLE.read_bytes()))
    public = run_once(
        image,
        "sh",
        "-c",
        "cat /etc/ssl/certs/ca-certificates.crt; python -c 'import certifi; "
        "print(open(certifi.where()).read())'",
    ).stdout.encode()
    return sorted(mine - set(PEM.findall(public)))


def test_no_secret_in_any_layer(image: str, tmp_path: Path) -> None:
    secrets = _machine_only_certificates(image)
    # the first line of each certificate's body is enough to recognise it, however it is stored
    needles = [s.split(b"\n", 1)[0] for s in secrets if len(s) > 64]
    needles += [REVIEWER_TOKEN.encode(), ADMIN_TOKEN.encode(), CA_BUNDLE.read_bytes()[-400:]]
    saved = tmp_path / "image.tar"
    subprocess.run([DOCKER, "save", "-o", str(saved), image], check=True, timeout=600)
    found: list[str] = []
    layers = 0
    with tarfile.open(saved) as outer:
        for member in outer:
            if not member.name.endswith("layer.tar") and not member.name.startswith("blobs/"):
                continue
            layer = outer.extractfile(member)
            if layer is None:
                continue
            try:
                inner = tarfile.open(fileobj=layer, mode="r|*")
            except tarfile.ReadError:
                continue  # a config blob, not a layer
            layers += 1
            for entry in inner:
                if SECRET_FILES.search(entry.name) or entry.name.startswith("run/secrets/"):
                    found.append(f"{member.name}: file {entry.name}")
                if not entry.isfile() or entry.size == 0:
                    continue
                data = inner.extractfile(entry)
                content = data.read() if data is not None else b""
                for needle in needles:
                    if needle in content:
                        found.append(f"{member.name}: {entry.name} holds {needle[:40]!r}...")
    assert layers >= 3, f"only {layers} layers read from the saved image"
    assert not found, "\n".join(found)
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    for needle in needles:
        assert needle.decode(errors="replace") not in history
    size = json.loads(docker("image", "inspect", image).stdout)[0]["Size"]
    TIMINGS.append(
        f"image {image}: {size / 1e9:.2f} GB, {layers} layers scanned, "
        f"{len(secrets)} machine-only CA certificates looked for, none found"
    )

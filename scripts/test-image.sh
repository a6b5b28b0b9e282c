#!/usr/bin/env bash
# make test-image: Docker and the Debian base (setup-image.sh), the images (build-image.sh),
# then the image tests (pytest -m "image or docker": the built image's entrypoints, user and
# layers, and the whole stack from it). A dockerd started here is stopped at the end, whatever
# the outcome; the tests remove their own containers.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE_STATE="${IMAGE_STATE:-$PWD/.image-state}"
export IMAGE_STATE
mkdir -p "$IMAGE_STATE"
rm -f "$IMAGE_STATE/dockerd.pid"

stop_dockerd() {
    local pid
    [ -f "$IMAGE_STATE/dockerd.pid" ] || return 0
    pid="$(cat "$IMAGE_STATE/dockerd.pid")"
    echo "==> stopping dockerd ($pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$IMAGE_STATE/dockerd.pid"
}
trap stop_dockerd EXIT

start=$(date +%s)
bash scripts/setup-image.sh
bash scripts/build-image.sh
echo "==> docker ready and images built in $(($(date +%s) - start)) s"
nice -n 19 "${VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider -m "image or docker" \
    selfimprove_assets_tests/image selfimprove_assets_tests/deploy

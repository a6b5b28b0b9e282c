#!/usr/bin/env bash
# Builds the selfimprove image ($IMAGE) and the test stack's PostgreSQL image ($POSTGRES_IMAGE)
# from the Debian base made by scripts/setup-image.sh (run it first), the way a machine without
# an image registry builds them:
#   - BuildKit, with --network host (no bridge exists: see setup-image.sh);
#   - the base as the BASE build argument (the Dockerfile's default stays python:3.11-slim);
#   - the machine's CA bundle as the build secret "ca" (pip needs it; never in a layer);
#   - the CPU torch wheel from pip's configured find-links folder, copied into the context's
#     .whl/ (git-ignored), when it is there; otherwise torch comes from TORCH_INDEX_URL.
# BuildKit caches every step: an unchanged tree rebuilds in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER="${DOCKER:-/usr/bin/docker}"
BASE_IMAGE="${BASE_IMAGE:-local/debian-python:bookworm}"
IMAGE="${IMAGE:-selfimprove:test}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-selfimprove-postgres:test}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
export DOCKER_BUILDKIT=1

if [ -z "${TORCH_WHEEL_DIR:-}" ]; then
    TORCH_WHEEL_DIR="$("${VENV:-.venv}/bin/python" -m pip config get global.find-links 2>/dev/null \
        || python3 -m pip config get global.find-links 2>/dev/null || true)"
fi
mkdir -p .whl
for dir in $TORCH_WHEEL_DIR; do
    for wheel in "${dir#file://}"/torch-2.13.0*-cp311-*linux*x86_64.whl; do
        [ -f "$wheel" ] || continue
        target=".whl/$(basename "$wheel")"
        [ -f "$target" ] || cp "$wheel" "$target"
    done
done
ls .whl/torch-*.whl >/dev/null 2>&1 && echo "==> torch from $(ls .whl/torch-*.whl)" \
    || echo "==> no local torch wheel: torch from the Dockerfile's TORCH_INDEX_URL"

secret=()
[ -f "$CA_BUNDLE" ] && secret=(--secret "id=ca,src=$CA_BUNDLE")

start=$(date +%s)
nice -n 19 "$DOCKER" build --network host --progress plain \
    --build-arg "BASE=$BASE_IMAGE" "${secret[@]}" -t "$IMAGE" . \
    >"${BUILD_LOG:-.image-state/build.log}" 2>&1 || {
    echo "docker build failed; its log ends:" >&2
    tail -n 60 "${BUILD_LOG:-.image-state/build.log}" >&2
    exit 1
}
echo "==> built $IMAGE in $(($(date +%s) - start)) s"
start=$(date +%s)
nice -n 19 "$DOCKER" build --network host --progress plain \
    --build-arg "BASE=$BASE_IMAGE" -t "$POSTGRES_IMAGE" deploy/postgres \
    >.image-state/build-postgres.log 2>&1 || {
    echo "docker build of deploy/postgres failed; its log ends:" >&2
    tail -n 60 .image-state/build-postgres.log >&2
    exit 1
}
echo "==> built $POSTGRES_IMAGE in $(($(date +%s) - start)) s"
"$DOCKER" image inspect "$IMAGE" --format '==> {{.Size}} bytes: size of '"$IMAGE"

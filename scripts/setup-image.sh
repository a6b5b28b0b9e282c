#!/usr/bin/env bash
# What the image test needs on a fresh Debian machine, made once and reused:
#   1. Debian's docker.io (daemon + client), debootstrap and docker-compose (1.29);
#   2. a running Docker daemon: an existing one is used, otherwise dockerd is started here with
#      no bridge and no iptables (every container runs with host networking: nothing is ever
#      sent to a private-range address) and its pid written to $IMAGE_STATE/dockerd.pid, which
#      scripts/test-image.sh stops at the end;
#   3. the base image $BASE_IMAGE: a minimal bookworm with python3 and python3-venv made by
#      debootstrap and imported (no image registry is reachable here), kept once made.
# Never a skip: a missing piece is installed or the script fails naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_STATE="${IMAGE_STATE:-$PWD/.image-state}"
BASE_IMAGE="${BASE_IMAGE:-local/debian-python:bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER="${DOCKER:-/usr/bin/docker}"
mkdir -p "$IMAGE_STATE"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

need_apt=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "==> starting dockerd (no bridge, no iptables: containers use host networking)"
    # shellcheck disable=SC2024
    # nice: the builds and containers run under it (a machine shared with other work)
    $SUDO nohup nice -n 19 /usr/sbin/dockerd --bridge=none --iptables=false --ip-forward=false \
        --ip-masq=false >"$IMAGE_STATE/dockerd.log" 2>&1 &
    echo $! >"$IMAGE_STATE/dockerd.pid"
    for _ in $(seq 1 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! "$DOCKER" info >/dev/null 2>&1; then
        echo "dockerd did not answer within 60 s; its log ends:" >&2
        tail -n 40 "$IMAGE_STATE/dockerd.log" >&2
        exit 1
    fi
fi

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "==> making the base image $BASE_IMAGE (debootstrap bookworm, a few minutes)"
    root="$(mktemp -d /tmp/selfimprove-base.XXXXXX)"
    trap '$SUDO rm -rf "$root"' EXIT
    $SUDO nice -n 19 debootstrap --variant=minbase \
        --include=python3,python3-venv,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" \
        >"$IMAGE_STATE/debootstrap.log" 2>&1 || {
        echo "debootstrap failed; its log ends:" >&2
        tail -n 40 "$IMAGE_STATE/debootstrap.log" >&2
        exit 1
    }
    # apt's caches and lists are not part of a base
    $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    $SUDO tar -C "$root" -c . | nice -n 19 "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
fi
echo "==> docker ready, base image $BASE_IMAGE"

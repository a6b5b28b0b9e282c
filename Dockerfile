# One image for every selfimprove process: the API server, the Dagster webserver and daemon, the
# training job and an MLflow server, from the same install. See docs/docker.md;
# docker-compose.yaml runs the whole stack with one command.
#
#   docker build -t selfimprove .                    # CPU build of torch (as scripts/setup.sh)
#   docker build -t selfimprove-gpu \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # for GPU training pods
#
# Build arguments (make test-image sets the first three; see scripts/build-image.sh):
#   BASE             the base image: any Debian with python3.11 and venv (default python:3.11-slim)
#   TORCH_INDEX_URL  where torch comes from, unless a torch wheel lies in the context's .whl/
#   secret "ca"      a CA bundle for pip (docker build --secret id=ca,src=...): mounted for the
#                    install steps only, never written to a layer
ARG BASE=python:3.11-slim

# The context's .whl/ folder (a local torch wheel), or nothing: the published build has none.
FROM ${BASE} AS wheels
COPY .whl* /wheels/

# pyproject.toml's dependencies as a requirements file: its other tables (the tests' settings)
# change without rebuilding the dependencies' layer.
FROM ${BASE} AS requirements
COPY pyproject.toml /pyproject.toml
RUN python3 -c "import tomllib; print('\\n'.join(tomllib.load(open('/pyproject.toml', 'rb'))['project']['dependencies']))" >/requirements.txt

# Everything pip puts in place goes into /opt/venv; this stage's caches stay here.
FROM ${BASE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
# torch first, from the local wheel when there is one, else from the index of the wanted build
# (CPU by default); then the project pinned by constraints.txt (its torch==2.13.0 pin is
# satisfied by the build already installed).
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    wheel="$(ls /wheels/torch-2.13.0*.whl 2>/dev/null | head -n 1)"; \
    if [ -n "$wheel" ]; then /opt/venv/bin/pip install "$wheel"; \
    else /opt/venv/bin/pip install --index-url "${TORCH_INDEX_URL}" "torch==2.13.0"; fi
# The dependencies: a layer that a change of the code (or of pyproject.toml's other tables)
# keeps; the final stage copies it whole and installs the project over it. C/C++ headers are
# for building extensions, which nothing here does.
COPY --from=requirements /requirements.txt /tmp/requirements.txt
COPY constraints.txt /tmp/constraints.txt
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/venv/bin/pip install -c /tmp/constraints.txt -r /tmp/requirements.txt \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/torch/include \
        /opt/venv/lib/python3*/site-packages/pyarrow/include

FROM ${BASE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SELFIMPROVE_HOME=/data \
    DAGSTER_HOME=/data/dagster

# Tesseract reads scanned pages (pytesseract calls the binary); apt's lists and caches go.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tesseract-ocr \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log

# Not root: the processes own only the data directory.
RUN useradd --create-home --uid 10001 selfimprove \
    && mkdir -p /data/dagster \
    && chown -R selfimprove:selfimprove /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml constraints.txt README.md dagster.yaml workspace.yaml ./
COPY selfimprove_assets ./selfimprove_assets
COPY training_jobs ./training_jobs
COPY deploy ./deploy
# The project, editable from /app (no dependency left to install: --no-deps), so that the code's
# own paths (deploy/, workspace.yaml) are the repository's layout; a small layer per change.
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps -e . && rm -rf /app/*.egg-info /app/build

USER selfimprove
VOLUME ["/data"]
EXPOSE 8000 3000 5000
# Every service's own check (deploy/healthcheck.py reads which one runs as PID 1).
HEALTHCHECK --interval=30s --timeout=20s --start-period=300s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["api"]

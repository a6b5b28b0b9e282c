# One image for every selfimprove process: the API server, the Dagster webserver and daemon, the
# training job (and an MLflow server, from the same install). See the README's "Docker /
# Kubernetes" section; docker-compose.yaml runs the whole stack with one command.
#
#   docker build -t selfimprove .                    # CPU build of torch (as scripts/setup.sh)
#   docker build -t selfimprove-gpu \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # for GPU training pods
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SELFIMPROVE_HOME=/data \
    DAGSTER_HOME=/data/dagster

# Tesseract reads scanned pages (pytesseract calls the binary).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch first, from the index of the wanted build (CPU by default), then the project pinned by
# constraints.txt (its torch==2.13.0 pin is satisfied by the build already installed).
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==2.13.0"
COPY pyproject.toml constraints.txt README.md ./
COPY selfimprove_assets ./selfimprove_assets
COPY training_jobs ./training_jobs
RUN pip install -c constraints.txt .

COPY dagster.yaml workspace.yaml ./
COPY deploy ./deploy

# Not root: the processes own only the data directory.
RUN useradd --create-home --uid 10001 selfimprove \
    && mkdir -p /data/dagster \
    && chown -R selfimprove:selfimprove /data
USER selfimprove
VOLUME ["/data"]
EXPOSE 8000 3000 5000

ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["api"]

#!/bin/sh
# Entrypoint of the selfimprove image: one image, one process per container.
#   api        the REST API and review page (selfimprove serve)
#   webserver  the Dagster UI over the code location in workspace.yaml
#   daemon     dagster-daemon: the sensors that retrain, evaluate and promote
#   train ...  the training job (python -m training_jobs.train ...), as a Kubernetes pod runs it
#   anything else runs as given (e.g. "selfimprove --help", "mlflow server ...").
# The Dagster instance is DAGSTER_HOME/dagster.yaml: PostgreSQL storage
# (deploy/dagster.postgres.yaml) when DAGSTER_PG_HOST is set, the embedded SQLite one otherwise.
set -eu
APP="$(cd "$(dirname "$0")/.." && pwd)"  # /app in the image

dagster_instance() {
    mkdir -p "$DAGSTER_HOME"
    if [ -n "${DAGSTER_PG_HOST:-}" ]; then
        cp "$APP/deploy/dagster.postgres.yaml" "$DAGSTER_HOME/dagster.yaml"
    else
        cp "$APP/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
    fi
}

command="${1:-api}"
[ "$#" -gt 0 ] && shift
case "$command" in
    api)
        exec selfimprove serve --host 0.0.0.0 --port 8000 "$@"
        ;;
    webserver)
        dagster_instance
        exec dagster-webserver -h 0.0.0.0 -p 3000 -w "$APP/workspace.yaml" "$@"
        ;;
    daemon)
        dagster_instance
        exec dagster-daemon run -w "$APP/workspace.yaml" "$@"
        ;;
    train)
        exec python -m training_jobs.train "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac

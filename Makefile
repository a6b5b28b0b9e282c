# One way in: `make demo` runs the whole self-improving loop, `make test` runs the test suite.
# Both install what they need first (scripts/setup.sh), so they work on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin
export SELFIMPROVE_HOME ?= $(CURDIR)/.selfimprove
export DAGSTER_HOME ?= $(SELFIMPROVE_HOME)/dagster
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-image lint typecheck unit bench serve ui mlflow-ui clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/selfimprove demo

test: setup lint typecheck unit

# The image that ships: Docker (installed and started when missing), the Debian base, the image
# built from the Dockerfile, then the image tests (entrypoints, user, layers, the whole stack).
test-image: setup
	@bash scripts/test-image.sh

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/pyright

unit: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python benchmarks/bench_pages.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_monitor.py
	$(BIN)/python benchmarks/bench_ocr.py
	$(BIN)/python benchmarks/bench_real.py

serve: setup
	$(BIN)/selfimprove serve --host 127.0.0.1 --port 8000

ui: setup
	mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(SELFIMPROVE_HOME)/mlflow/mlflow.db

clean:
	rm -rf $(SELFIMPROVE_HOME)

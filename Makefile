# registry-pipeline: `make demo` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration lock clean bench

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,mlflow]'
	touch $(STAMP)

AXE := tests/e2e/node_modules/axe-core/axe.min.js

# axe-core, pinned by tests/e2e/package-lock.json, for the browser tests' accessibility checks.
$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	touch $(AXE)

## Install (pinned), lint, type-check, check the layer contracts and dead code, and run the
## whole test suite.
test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture registry_pipeline assets sensors --min-confidence 80
	$(BIN)/python -m pytest

DAGSTER_HOME ?= $(CURDIR)/.registry/dagster
DEMO_ENV := DAGSTER_HOME=$(DAGSTER_HOME) REGISTRY_CATALOG=examples/catalog.yaml \
	REGISTRY_SENSORS=running REGISTRY_SENSOR_INTERVAL=5 DAGSTER_DISABLE_TELEMETRY=1

## Seed the example estate and start Dagster on localhost:3000 with the sensors running,
## and the registry server with its web UI on localhost:8080 (token login: the driver
## prints a link that logs the demo approver in).
demo: $(STAMP)
	$(BIN)/python examples/demo.py prepare
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/registry serve --port 8080 --dagster-url http://127.0.0.1:3000 & \
	( sleep 5; $(DEMO_ENV) $(BIN)/python examples/demo.py drive ) & \
	$(DEMO_ENV) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Compare with MLflow (its client in bench/.venv-mlflow, its server in
## bench/.venv-mlflow-server, both from PyPI); writes docs/benchmarks.md and
## bench/results/*.json. QUICK=1: 1,000 and 10,000 versions, the scale run at 100,000.
## The 16-client HTTP rows also use Debian's wrk when it is installed.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

integration: $(STAMP)
	$(BIN)/python -m pytest -m integration

## Re-resolve the pinned versions from pyproject.toml's ranges.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -e '.[dev,mlflow]'
	{ echo "# Exact versions every install uses (pip -c). Regenerate: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -vi '^registry-pipeline'; } > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# registry-pipeline: `make demo` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## Install (pinned), lint, type-check and run the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check registry_pipeline assets sensors tests
	$(BIN)/ruff format --check registry_pipeline assets sensors tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

demo: $(STAMP)
	@echo "make demo: coming with the Dagster asset graph; meanwhile try the CLI walk-through in README.md"

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

integration: $(STAMP)
	$(BIN)/python -m pytest -m integration

## Re-resolve the pinned versions from pyproject.toml's ranges.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Exact versions every install uses (pip -c). Regenerate: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -vi '^registry-pipeline'; } > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

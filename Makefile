# make test: lint, type-check and run the test suite.   make demo: the sentry against a local AWS.
# Both build .venv from the pinned requirements-dev.txt on first use.

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: test demo lint unit clean

test: lint
	$(BIN)/python -m pytest

unit: $(READY)
	$(BIN)/python -m pytest tests/unit

demo: $(READY)
	$(BIN)/python -m localaws.demo

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(READY): requirements-dev.txt constraints-dev.txt requirements.txt
	@test -n "$(PYTHON)" || { echo "make: no Python 3.12+ found; set PYTHON=/path/to/python3.12+" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(READY)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

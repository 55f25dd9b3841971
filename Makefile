# make test: lint, type-check and run the test suite.   make demo: the sentry against a local AWS.
# make rehearse: the real chalice deploy / delete against moto's server on 127.0.0.1.
# make bench: the benchmarks of BENCHMARKS.md, against moto's server on 127.0.0.1.
# make package: `chalice package` of a stage (STAGE=dev) with the merge template, in out/STAGE (the org stage:
# make package-org); make deploy: `chalice deploy --stage STAGE`. Each ships checked-hash bytecode in the package
# (sentrycli/bytecode.py says why).
# make package-org: an AWS Organization's central deployment (the org stage) for CloudFormation, in out/org.
# Both build .venv from the pinned requirements-dev.txt on first use.

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: test demo rehearse bench lint unit clean package deploy package-org

# The suite in parallel (pytest-xdist, a worker per CPU, each test file on one worker, in order), then the tests
# that judge what all of it did (the AWS calls it recorded, the inputs it generated): `python -m pytest` alone
# runs both in one process, more slowly.
SUITE_RECORD := $(CURDIR)/.pytest-record

test: lint
	rm -rf $(SUITE_RECORD)
	SENTRY_SUITE_RECORD=$(SUITE_RECORD) $(BIN)/python -m pytest -n auto --dist loadfile -m "not after_suite"
	SENTRY_SUITE_RECORD=$(SUITE_RECORD) $(BIN)/python -m pytest -m after_suite

unit: $(READY)
	$(BIN)/python -m pytest tests/unit

demo: $(READY)
	$(BIN)/python -m localaws.demo

rehearse: $(READY)
	$(BIN)/python -m localaws.rehearse

bench: $(READY)
	$(BIN)/python -m bench.cold
	$(BIN)/python -m bench.event
	$(BIN)/python -m bench.sweep
	$(BIN)/python -m bench.organization

# Chalice's CLI, with the bytecode step in its packager: the cold start does not compile the package's code.
STAGE ?= dev
PACKAGE_OUT ?= out/$(STAGE)

package: $(READY)
	$(BIN)/python -m sentrycli.bytecode package --stage $(STAGE) --merge-template .chalice/merge-template.json $(PACKAGE_OUT)

deploy: $(READY)
	$(BIN)/python -m sentrycli.bytecode deploy --stage $(STAGE)

# Both merge templates over `chalice package --stage org` (sentrycli/package_org.py says why, and how to deploy).
ORG_OUT ?= out/org

package-org: $(READY)
	$(BIN)/python -m sentrycli.package_org $(ORG_OUT)

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(READY): requirements-dev.txt constraints-dev.txt requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python 3.12+ found; set PYTHON=/path/to/python3.12+" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# The `sentry` command, from this checkout (no dependencies: they are pinned above).
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(READY)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .pytest-record

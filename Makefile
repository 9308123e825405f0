# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench chaos clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev,sandbox]'
	touch $(STAMP)

# Tests run in parallel (pytest-xdist, one process per core, at most 4): each worker has its own sandbox.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check service statemachine sandbox tests benchmarks
	$(BIN)/mypy

# The chaos suite in full (tests/chaos/: every LBC timing, leader failover, every fault kind); `make test` runs
# its quick form. CHAOS_SEED sets the base seed; CHAOS_REPORT names a file each run appends its JSON summary to.
CHAOS_SEED ?= 1
chaos: $(STAMP)
	CHAOS=full CHAOS_SEED=$(CHAOS_SEED) $(BIN)/python -m pytest -q -p no:cacheprovider tests/chaos $(PYTEST_ARGS)

# `make demo` runs the canary scenario; `make demo SCENARIO=bluegreen` a blue-green update
# (sandbox/demo_bluegreen.py); `make demo SCENARIO=analysis` a bad canary aborted by ALB-native analysis
# (sandbox/demo_analysis.py).
SCENARIO ?= canary
demo: $(STAMP)
	$(BIN)/python -m sandbox.demo --scenario $(SCENARIO)

bench: $(STAMP)
	$(BIN)/python benchmarks/machine_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

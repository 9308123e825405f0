# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench chaos clean image image-tools

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

# `make image`: the controller's OCI image, built with no Docker engine and nothing pulled from a container
# registry (docs/image.md, image/build.sh): Debian bookworm's python3.11 from Debian's packages (mmdebstrap),
# the product's wheel (service/ and statemachine/ only) and its dependencies' wheels, packed by umoci into
# build/image/oci (tags 0.1.0 and latest) and build/image/alb-rollouts-0.1.0.oci.tar. User 10001, entrypoint
# `alb-rollouts`, command `run`. About 37 MB compressed, 148 MB unpacked; about 80 s on 2 cores. Needs root.
# Not part of `make test`: tests/test_image.py runs the image against the sandbox once it is built here.
image: $(STAMP) image-tools
	bash image/build.sh

# mmdebstrap and umoci from Debian's packages (as .ci/run installs kubectl).
image-tools:
	@command -v mmdebstrap >/dev/null && command -v umoci >/dev/null || { \
	  timeout 300 apt-get update -qq && \
	  timeout 300 apt-get install -y -qq --no-install-recommends mmdebstrap umoci >/dev/null; }

# `make bench`: the controller at scale on the sandbox (sandbox/bench/, `alb-rollouts bench`): ROLLOUTS rollouts over
# ALBS ALBs through a deploy, one canary step, a promotion and a restart; prints a table, writes BENCH_OUT (JSON).
# `make bench ROLLOUTS=1000 ALBS=40` takes 5 to 10 minutes on 2 cores.
ROLLOUTS ?= 200
ALBS ?= 10
BENCH_OUT ?= build/bench.json
bench: $(STAMP)
	$(BIN)/alb-rollouts bench --rollouts $(ROLLOUTS) --albs $(ALBS) --out $(BENCH_OUT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build

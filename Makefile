# Two commands do all the set-up: `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
NODE_STAMP := web_client/node_modules/.package-lock.json
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install install-test run demo test lint typecheck pytest bench-sfu bench-dicom bench-stow bench-rec bench-broadcast bench-field soak test-heavy fuzz docs clean

help:
	@echo "make run     serve the platform on http://127.0.0.1:8080 (SQLite and blobs in ./data)"
	@echo "make demo    load a demo network of hospitals and staff into ./data"
	@echo "make test    ruff, mypy and the whole test suite"
	@echo "make fuzz    fuzz the SDP guard, socket.io events, DICOM validation and tokens (FUZZ_RUNS each)"
	@echo "make test-heavy  the six-participant browser call (not in make test)"
	@echo "make soak    SOAK_ROOMS calls of three bots joining, reloading, leaving for SOAK_MINUTES"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools

# The versions tested together (constraints.txt): every install gets the same ones.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $@ $(VENV)/.installed

# The browser's third-party scripts come from the npm registry, pinned by the lock file.
$(NODE_STAMP): web_client/package.json web_client/package-lock.json
	cd web_client && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed $(NODE_STAMP)

install-test: $(VENV)/.installed-test $(NODE_STAMP)

run: install
	$(BIN)/telehealth migrate
	$(BIN)/telehealth serve

demo: install
	$(BIN)/telehealth demo

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

pytest: install-test
	$(BIN)/pytest

test: lint typecheck pytest

# Too heavy beside the whole suite on a 2-core machine (it timed out there once):
# six participants, four of them Chromium pages.
test-heavy: install-test
	TELEHEALTH_HEAVY_TESTS=1 $(BIN)/pytest tests/web_client/test_call_browser.py -k six

bench-sfu: install-test
	$(BIN)/python bench/sfu_fanout.py

bench-dicom: install-test
	$(BIN)/python bench/dicom_ingest.py

bench-stow: install-test
	$(BIN)/python bench/stow_memory.py

bench-rec: install-test
	$(BIN)/python bench/recording.py

bench-broadcast: install-test
	$(BIN)/python bench/broadcast.py

# A district doctor's Chromium on a shaped link (network namespace, needs root):
# FIELD_SECONDS per scenario (default 60), FIELD_SCENARIOS=2,3 picks some (bench/field.py).
bench-field: install-test
	$(BIN)/python bench/field.py

# Rooms of three aiortc bots joining, reloading, leaving and rejoining at random
# (bench/soak.py); the last line printed is its JSON result.
SOAK_MINUTES ?= 30
SOAK_ROOMS ?= 3

soak: install-test
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES) --rooms $(SOAK_ROOMS)

# Each target runs in its own process, one after the other; per target it
# prints inputs executed, crashes, peak memory and seconds (artifacts: build/fuzz).
FUZZ_RUNS ?= 100000

fuzz: install-test
	$(BIN)/python -m fuzz all --runs $(FUZZ_RUNS)

docs: install
	$(BIN)/python -m signalling.protocol_doc > docs/PROTOCOL.md

clean:
	rm -rf $(VENV) web_client/node_modules .mypy_cache .ruff_cache .pytest_cache

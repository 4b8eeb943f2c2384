# Every target bootstraps what it needs: a fresh machine with Python 3.11+ and Node.js
# runs `make demo` or `make test` and nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
FLOOR_VENV ?= .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed

.PHONY: test test-deep check demo bench lint typecheck imports synth synth-floor deploy clean

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The whole suite, as CI runs it, then one synth at the cdk extra's floors.
test: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory synth-floor

# The lifecycle model at depth: at least 10,000 examples per machine (over an hour here; CI runs
# its short profile; docs/testing.md has the figures).
test-deep: $(PY_STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest tests/model -s $(PYTEST_ARGS)

# The inner loop, under a minute: lint, types, import contracts, then the unit tests.
check: lint typecheck imports
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

demo: $(PY_STAMP)
	$(BIN)/size-recorder demo $(DEMO_ARGS)

bench: $(PY_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy

# pyproject's [tool.importlinter] contracts; no cache directory left in the tree.
imports: $(PY_STAMP)
	$(BIN)/lint-imports --no-cache

synth: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth $(CDK_ARGS)

# The cdk extra at exactly its lower bounds (.ci/floors.py reads them from pyproject.toml, the one
# place they are written) in a venv of its own, made by .venv's Python, with this project
# installed without dependencies; then infra/app.py synthesizes with it, cdk-nag included, quiet
# unless it fails. Bundling is skipped (no PyPI, no CPython 3.13 needed) and no AWS account is
# reached. CPU time here: about 105 s cold (the venv built, pip's cache warm), 22 s warm (the
# synth alone); niced on a loaded 2-core machine that was 6 min and 1-1.5 min of wall time.
# The venv is rebuilt only when the pins change (floors.txt records them): any other
# pyproject.toml edit reinstalls just the project: 32 s of CPU instead of 105 s.
$(FLOOR_STAMP): pyproject.toml .ci/floors.py $(PY_STAMP)
	pins="$$($(BIN)/python .ci/floors.py pins)" && \
	if [ "$$pins" != "$$(cat $(FLOOR_VENV)/floors.txt 2>/dev/null)" ]; then \
	  $(BIN)/python -m venv --clear $(FLOOR_VENV) && \
	  $(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$pins && \
	  printf '%s\n' "$$pins" > $(FLOOR_VENV)/floors.txt; \
	fi
	$(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

synth-floor: $(FLOOR_STAMP)
	$(BIN)/python .ci/floors.py synth --python $(FLOOR_VENV)/bin/python

deploy: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk deploy $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(FLOOR_VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache

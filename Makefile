# Every target bootstraps what it needs: a fresh machine with Python 3.11+ and Node.js
# runs `make demo` or `make test` and nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: test test-deep check demo bench lint typecheck imports synth deploy clean

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The whole suite, as CI runs it.
test: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The lifecycle model at depth: at least 10,000 examples (hours here; CI runs its short profile).
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

deploy: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk deploy $(CDK_ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache

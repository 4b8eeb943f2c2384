# Every target bootstraps what it needs: a fresh machine with Python 3.11+ and Node.js
# runs `make demo` or `make test` and nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: test demo bench lint typecheck synth deploy clean

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(PY_STAMP)
	$(BIN)/size-recorder demo $(DEMO_ARGS)

bench: $(PY_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy

synth: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth $(CDK_ARGS)

deploy: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk deploy $(CDK_ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache

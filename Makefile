# healthmon — every target bootstraps .venv from a fresh clone first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HM     := $(VENV)/bin/healthmon
STAMP  := $(VENV)/.installed-stamp
# The demo keeps its workspace (database, lakehouse, MLflow store, run logs) inside the clone.
DEMO_HOME ?= $(CURDIR)/.healthmon
DEMO_SCALE ?= medium
PYTEST_ARGS ?=

.PHONY: setup demo eval lint test test-fast bench clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HEALTHMON_HOME=$(DEMO_HOME) DEMO_SCALE=$(DEMO_SCALE) bash scripts/demo.sh

# Every model on EVAL_SEEDS fresh accounts (seeds drawn now), next to its baselines: EVALUATION.md.
EVAL_SEEDS ?= 20
eval: $(STAMP)
	nice -n 5 $(HM) evaluate --seeds $(EVAL_SEEDS) --scale $(DEMO_SCALE) --output EVALUATION.md --json EVALUATION.json
	$(PY) -m benchmarks.bench_evaluation --from EVALUATION.json

# Static checks (configured in pyproject.toml): lint + import order, then types. `make test` runs them first.
lint: $(STAMP)
	$(VENV)/bin/ruff check src
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Re-pin constraints.txt to what the venv has (after a dependency change in pyproject.toml).
lock:
	$(PY) -m pip install -q -e '.[dev,spark]'
	{ head -2 constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new && mv constraints.txt.new constraints.txt

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache build dist src/*.egg-info

# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint index serve bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly pinned: pip takes the CPU wheel on disk instead of a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The bundled catalogue is generated from the hand-written lexicon: the demo serves with it (LIRA_PRODUCT_LEXICON);
# a merchant's catalogue is served with its own mined vocabulary only (the default).
DEMO := LIRA_PRODUCT_LEXICON=$${LIRA_PRODUCT_LEXICON:-true}

## Build the index of the bundled catalogue (reused when up to date) and serve on http://127.0.0.1:$${PORT:-8000}
run: $(STAMP)
	$(PY) -m indexer reindex --if-stale
	$(DEMO) $(PY) -m app

## The gates, then the test suite (slow tests deselected; `make test PYTEST_ARGS="-m 'slow or not slow'"` runs all)
test: lint $(STAMP)
	bash scripts/ensure_browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

## Formatting, lint and types (also the first step of `make test`)
lint: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

index: $(STAMP)
	$(PY) -m indexer reindex

serve: $(STAMP)
	$(DEMO) $(PY) -m app

clean:
	rm -rf var .pytest_cache

# One-command set-up: every target creates the virtual environment on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## demo: train the default experiment on embedded data (under a minute on 2 CPU cores)
demo: $(STAMP)
	$(VENV)/bin/dlnotes-train

## bench: time the ops, models and Lightning against PyTorch; rewrite BENCHMARKS.md's table
bench: $(STAMP)
	$(VENV)/bin/dlnotes-bench --update BENCHMARKS.md

## lint: ruff check + format check
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

## test: lint, then the whole test suite on all cores
test: lint
	$(PY) -m pytest -n auto -q

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache .hypothesis

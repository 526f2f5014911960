# `make demo` and `make test` do all their own set-up: a virtual environment in .venv
# with the project installed, re-installed only when pyproject.toml changes.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DEMO_RUN := runs/digits-demo

.PHONY: install demo train-demo test lint

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[serve,dev]'
	touch $@

# Trains the digits demo model unless it exists already.
$(DEMO_RUN)/checkpoint.pt: | $(INSTALLED)
	$(PY) -m trainer train --config recipes/digits.yaml --out $(DEMO_RUN)

train-demo: $(DEMO_RUN)/checkpoint.pt

demo: train-demo
	$(PY) -m trainer eval --checkpoint $(DEMO_RUN)/checkpoint.pt

test: install
	$(PY) -m ruff check trainer backend tests
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check trainer backend tests

# `make demo`, `make check` and `make test` do all their own set-up: a virtual environment in .venv
# with the project installed, re-installed only when pyproject.toml changes.
PYTHON ?= python3.11
VENV ?= .venv
PORT ?= 8000
HOST ?= 127.0.0.1
# Debian's Chromium drives the browser tests (Playwright's own download needs the internet).
CHROMIUM ?= /usr/bin/chromium
# Node runs the page's unit tests with its built-in runner (Debian's nodejs is enough).
NODE ?= /usr/bin/node
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DEMO_RUN := runs/digits-demo
BASELINE_RUN := runs/digits-demo-no-codi

.PHONY: install demo demo-compare train-demo serve check test lint test-js

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

# Trains the demo model if needed, then serves the dashboard on http://$(HOST):$(PORT)/
demo: train-demo serve

# The same recipe without CoDiNet's consistency and diversity terms (cost term kept):
# what the demo is compared with to see what the terms do.
$(BASELINE_RUN)/checkpoint.pt: | $(INSTALLED)
	$(PY) -m trainer train --config recipes/digits.yaml --w-con 0 --w-div 0 --out $(BASELINE_RUN)

# Trains both if needed, then serves them: tick Compare on digits-demo-no-codi.
demo-compare: train-demo $(BASELINE_RUN)/checkpoint.pt serve

serve: install
	$(PY) -m backend --runs-dir runs --host $(HOST) --port $(PORT)

# Debian packages the tests need: Chromium for the browser tests, docker-compose to
# validate docker-compose.yml (no Docker engine is needed for that), wrk for the API
# benchmark's load.
SYSTEM_TOOLS := $(CHROMIUM) /usr/bin/docker-compose /usr/bin/wrk

$(SYSTEM_TOOLS):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium docker-compose wrk

$(NODE):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq nodejs

PY_SOURCES := trainer backend tests bench docs

lint: install
	$(PY) -m ruff check $(PY_SOURCES)
	$(PY) -m ruff format --check $(PY_SOURCES)

# The page's pure modules (frontend/data.js, plots.js, format.js, rerender.js and the URL
# hash of state.js), without a browser.
test-js: $(NODE)
	$(NODE) --test tests/js/*.test.mjs

# The fast loop: lint, the page's unit tests, then the tests marked neither slow nor browser.
check: lint test-js
	$(PY) -m pytest -m "not slow and not browser"

# Every test: the page's unit tests, browser, slow (training, subprocesses, the contract
# fuzzer) and GPU ones (skipped without CUDA).
test: lint test-js $(SYSTEM_TOOLS)
	$(PY) -m pytest

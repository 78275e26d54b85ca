# Everything a fresh machine needs is installed by these targets (into .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo test test-unit test-integration test-e2e lint bench package clean system-deps

help:
	@echo "make demo   - the whole pipeline on the embedded warehouse, with a summary"
	@echo "make test   - lint, unit, integration and end-to-end tests (installs everything)"
	@echo "make bench  - performance figures into bench/results.json"

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dashboard,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download browsers here).
system-deps:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/clickstream demo

lint: install
	$(BIN)/ruff check loader lambda dashboard tests bench
	$(BIN)/ruff format --check loader lambda dashboard tests bench
	$(BIN)/mypy

test-unit: install
	$(PY) -m pytest tests/unit -q

test-integration: install
	$(PY) -m pytest tests/integration -q

test-e2e: install system-deps
	$(PY) -m pytest tests/e2e -q

test: install system-deps lint
	$(PY) -m pytest tests -q

bench: install
	$(PY) bench/run.py

clean:
	rm -rf build dist target logs .pytest_cache .mypy_cache .ruff_cache

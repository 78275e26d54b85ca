# Everything a fresh machine needs is installed by these targets (into .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo test test-unit test-integration test-e2e test-engines lint lint-dbt lint-engines infra-scan bench package dashboard docs clean system-deps tracker

help:
	@echo "make demo       - the whole pipeline on the embedded warehouse, with a summary"
	@echo "make test       - lint, dbt and infra checks, unit, integration, engine and browser tests (installs everything)"
	@echo "make test-engines - the whole dbt project built on Spark and compared with the Postgres build, mart by mart"
	@echo "make lint-engines - the dbt project compiled for Redshift (no warehouse needed), linted in its dialect"
	@echo "make dashboard  - serve the dashboard on http://127.0.0.1:8050/"
	@echo "make package    - dist/ingest.zip, dist/etl.zip (Lambda, python3.12 x86_64) and dist/dashboard-wheelhouse.tar.gz"
	@echo "make bench      - performance figures into bench/results.json"
	@echo "make tracker    - build the first-party tracker (tracker/dist/tracker.js, ES module + types)"
	@echo "make docs       - build and serve dbt docs (models, columns, tests, lineage) on http://127.0.0.1:8081/"

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dashboard,dev,engines]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download browsers), Node.js for the tracker's build when
# the machine has none, Debian's R with Shiny, DBI and RPostgreSQL for the old R dashboard's smoke test (about
# 10 s, ~110 MB), and a Java 17 runtime for Spark (test-engines).
system-deps:
	@command -v java >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }
	@command -v chromium >/dev/null && command -v Rscript >/dev/null && command -v npm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null && \
	  { command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; } && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    r-base-core r-cran-shiny r-cran-dbi r-cran-rpostgresql >/dev/null; }

demo: install
	$(BIN)/clickstream demo

dashboard: install
	$(BIN)/clickstream dashboard

# dist/ingest.zip, dist/etl.zip (Lambda) and dist/dashboard-wheelhouse.tar.gz (the warehouse host's dashboard).
# DATABASE: the template's WarehouseDatabaseName (the shipped pre-parsed manifest names it).
package: install
	$(PY) scripts/package.py --database $(or $(DATABASE),clickstream_dw) ingest etl dashboard

lint: install
	$(BIN)/ruff check loader clickstream lambda scripts dashboard tests bench
	$(BIN)/ruff format --check loader clickstream lambda scripts dashboard tests bench
	$(BIN)/mypy

# dbt on Postgres does not validate YAML by itself: parse with deprecations as errors; SQLFluff on the models.
lint-dbt: install
	$(BIN)/clickstream dbt parse --quiet --no-partial-parse --show-all-deprecations --warn-error-options '{"error": ["Deprecations"], "silence": ["UnsupportedConstraintMaterialization"]}'
	$(BIN)/clickstream db migrate >/dev/null
	@# a model dbt cannot compile is only "skipped" by SQLFluff: fail on it
	set -o pipefail; eval "$$($(BIN)/clickstream db env)" && $(BIN)/sqlfluff lint dbt_project/models dbt_project/tests 2>&1 \
	  | tee /dev/stderr | { ! grep -q "because dbt raised"; }

# Redshift: dbt compiles every model for the redshift target with no warehouse (offline_compile: full builds, dbt's
# start time as the run's stamp), then SQLFluff's redshift dialect must parse and pass them (.sqlfluff-redshift).
REDSHIFT_TARGET := target/redshift
lint-engines: install
	$(BIN)/dbt compile --quiet --profiles-dir . --project-dir . --target redshift --target-path $(REDSHIFT_TARGET) \
	  --no-populate-cache --vars '{offline_compile: true}'
	$(BIN)/sqlfluff lint --config .sqlfluff-redshift --disregard-sqlfluffignores \
	  $$(find $(REDSHIFT_TARGET)/compiled/clickstream/dbt_project/models -name '*.sql' -not -path '*.yml/*')

# cfn-lint and checkov (checkov in its own virtualenv: it conflicts with dbt's dependencies).
infra-scan: install
	bash infra/scan.sh

test-unit: install
	$(PY) -m pytest tests/unit -q

test-integration: install
	$(PY) -m pytest tests/integration -q

test-e2e: install system-deps
	$(PY) -m pytest tests/e2e -q

# The whole project on Spark (local session, Parquet tables) from the raw tables of a Postgres build: every mart equal.
test-engines: install system-deps
	$(PY) -m pytest tests/engines -q

# The first-party tracker (TypeScript, no runtime dependencies): tracker/dist/tracker.js and its types.
tracker: tracker/dist/tracker.js

tracker/dist/tracker.js: tracker/src/*.ts tracker/package.json tracker/package-lock.json tracker/tsconfig.json
	cd tracker && npm ci --no-audit --no-fund --silent && npx tsc -p tsconfig.json

# Set-up (Python packages and system packages side by side), the static checks side by side (each one's output
# kept together), then every test on all cores, test files in collection order (the longest, the browser and Spark
# ones, first: xdist would otherwise start the files with the most tests first and the Spark build last).
test:
	$(MAKE) --no-print-directory -j2 install system-deps
	$(MAKE) --no-print-directory tracker
	$(MAKE) --no-print-directory -j4 --output-sync=target lint lint-dbt lint-engines infra-scan
	$(PY) -m pytest tests -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

bench: install
	$(PY) bench/run.py

# dbt's documentation of the models (lineage, columns, tests) on http://127.0.0.1:8081/, from the warehouse in use.
docs: install
	$(BIN)/clickstream docs

clean:
	rm -rf build dist target logs .pytest_cache .mypy_cache .ruff_cache

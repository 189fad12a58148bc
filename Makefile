# servisbot-metrics: `make up` runs everything on demo data; `make check` runs lint and the tests
# that need no server, `make test` the whole suite.
# Both set up what they need on a fresh machine (uv, the three locked environments, Java for Spark).
SHELL := /bin/bash
.DEFAULT_GOAL := help

export DO_NOT_TRACK := 1
PYTHON ?= python3
# uv from PATH, else a private copy in .tools/ (works with a PEP 668 "externally managed" Python).
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

DATA ?= data
LANDING ?= $(DATA)/landing
WAREHOUSE ?= $(DATA)/warehouse.duckdb
# The configuration in effect: a copy of the demo's (made once), which `apply_config_job` in the
# Dagster UI edits; CONFIG=FILE for yours, CONFIG= for the built-in defaults.
DEMO_CONFIG := config/demo-metrics.yaml
CONFIG ?= $(DATA)/metrics-config.yaml
DEMO_DAYS ?= 30
DEMO_EVENTS ?= 320000
DEMO_SEED ?= 7
DAGSTER_PORT ?= 3000
SUPERSET_PORT ?= 8088

SBM := .venv/bin/servisbot-metrics
# The engine dbt builds with (orchestration/engines.py): SBM_ENGINE=spark runs dbt-spark's dbt.
ENGINE := $(or $(SBM_ENGINE),duckdb)
ENGINE_DBT := $(if $(filter spark,$(ENGINE)),../spark/.venv/bin/dbt,../.venv/bin/dbt)
# Spark's docs beside the manifest the pipeline loads (dbt_project/target), not over it
DOCS_TARGET := target$(if $(filter spark,$(ENGINE)),/spark,)
CONFIG_ARG := $(if $(CONFIG),--config $(CONFIG),)

CHROMIUM ?= /usr/bin/chromium
# pytest on both cores of the reference machine (pytest-xdist). A module whose tests share a server
# or a build runs on one worker (tests/conftest.py, ONE_WORKER_MODULES).
PYTEST_WORKERS ?= 2
PYTEST := .venv/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: help up setup uv java browser postgres demo-data config-file run docs superset-setup serve check test lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

up: setup demo-data run docs superset-setup serve  ## everything: set-up, demo data, pipeline, Superset; serve both UIs

uv:
	@if ! $(UV) --version >/dev/null 2>&1; then \
		echo "uv not found: installing it into .tools/"; \
		$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv; \
	fi

setup: uv  ## create the locked environments: pipeline (.venv), Superset and Spark (superset/, spark/)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) sync --frozen --quiet --compile-bytecode --project superset
	$(UV) sync --frozen --quiet --compile-bytecode --project spark
	.venv/bin/python -c "from orchestration import dbt_code; dbt_code.prepare()"

demo-data: setup  ## generate 30 days of synthetic events into $(LANDING) (once)
	@if [ -d "$(LANDING)" ] && [ -n "$$(ls -A $(LANDING) 2>/dev/null)" ]; then \
		echo "$(LANDING) already has data; not generating"; \
	else \
		$(SBM) generate --out $(LANDING) --days $(DEMO_DAYS) --events $(DEMO_EVENTS) --seed $(DEMO_SEED); \
	fi

config-file:
	@if [ "$(CONFIG)" = "$(DATA)/metrics-config.yaml" ] && [ ! -f "$(CONFIG)" ]; then \
		mkdir -p $(DATA); \
		sed 's|schema=metrics-config.schema.json|schema=$(abspath config/metrics-config.schema.json)|' \
			$(DEMO_CONFIG) > $(CONFIG); \
		echo "$(CONFIG): the demo's configuration, copied from $(DEMO_CONFIG)"; \
	fi

run: setup config-file  ## process what is new in $(LANDING) into $(WAREHOUSE)
	$(SBM) run --landing $(LANDING) --warehouse $(WAREHOUSE) $(CONFIG_ARG)

# dbt gets the configuration (vars) the warehouse was published with, and its state folder
docs: setup  ## dbt docs (models, columns, lineage) of $(WAREHOUSE)'s build: dbt_project/target/static_index.html
	@vars=$$($(SBM) config show --warehouse $(WAREHOUSE) --dbt-vars) || exit 1; \
	cd dbt_project && $(ENGINE_DBT) docs generate --static --quiet --target $(ENGINE) \
		--target-path $(DOCS_TARGET) --vars "$$vars"
	@echo "dbt docs: $(abspath dbt_project/$(DOCS_TARGET)/static_index.html)"

superset-setup: setup  ## create/upgrade Superset's metadata, users and dashboards (idempotent)
	SUPERSET_STATE_DIR=$(abspath $(DATA))/superset WAREHOUSE_PATH=$(abspath $(WAREHOUSE)) \
		superset/.venv/bin/python superset/provision.py setup

serve: config-file  ## serve Dagster (port $(DAGSTER_PORT)) and Superset (port $(SUPERSET_PORT)) until Ctrl-C
	LANDING=$(LANDING) WAREHOUSE=$(WAREHOUSE) DATA=$(DATA) CONFIG=$(CONFIG) \
		DAGSTER_PORT=$(DAGSTER_PORT) SUPERSET_PORT=$(SUPERSET_PORT) scripts/serve.sh

# apt-get install, with one `apt-get update` retry (a fresh machine has no package lists)
APT_INSTALL = SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get install -y -q $(1) >/dev/null 2>&1 \
	|| { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $(1) >/dev/null; }

browser:  ## Debian's chromium for the browser test (apt-get; Playwright cannot download browsers here)
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Debian's chromium (apt-get)"; \
		$(call APT_INSTALL,chromium); \
	fi

java:  ## a Java runtime for Spark (Debian's openjdk-17-jre-headless, apt-get)
	@if ! command -v java >/dev/null 2>&1; then \
		echo "installing Debian's openjdk-17-jre-headless (apt-get)"; \
		$(call APT_INSTALL,openjdk-17-jre-headless); \
	fi

postgres:  ## Debian's PostgreSQL server for the test of Dagster's PostgreSQL storage (apt-get)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing Debian's postgresql (apt-get)"; \
		$(call APT_INSTALL,postgresql); \
	fi

check: lint  ## lint, and every test that needs no server (Superset, `dagster dev`, browser, PostgreSQL) or Spark
	$(PYTEST) -m "not server and not spark"

test: setup java browser postgres lint  ## lint and run the whole test suite (what CI runs)
	$(PYTEST)

lint: setup  ## ruff lint and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:  ## remove generated data and state (keeps the environments)
	rm -rf $(DATA) dbt_project/target dbt_project/logs

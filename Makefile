# shipshape: entry points. `make demo` and `make test` are all a newcomer needs.
#
# The virtualenv is .venv (Python 3.11). `install` is idempotent: a stamp file records a finished
# install and is only redone when requirements.txt, constraints.txt or pyproject.toml change. It installs
# every group of requirements.txt (the product, the sandbox, dev), then the project itself editable with
# its `sandbox` and `dev` extras and --no-deps (the pins came from requirements.txt): both packages,
# shipshape and shipshape_sandbox, and the entry points by which the sandbox adds its CLI commands.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.shipshape-installed
# -qq: only errors. This machine's pip config points at extra indexes that produce a warning per
# package; override with `make install PIP_FLAGS=` to see everything.
PIP_FLAGS ?= -qq
# loadfile: a test file runs whole on one worker, so a module-scoped fixture (the browser tests' Airflow
# deployment) is built once and its tests run in order; --durations: CI's log names the slowest tests
PYTEST_FLAGS ?= -q -n 2 --dist loadfile --durations=25

.PHONY: help venv install test lint demo up down manifest dbt-build warehouse-up warehouse-down warehouse-status lock clean distclean

help:
	@echo "make demo              install (first run), then run the sandboxed pipeline end to end"
	@echo "make up                install (first run), then the real Airflow UI and schedules on the warehouse"
	@echo "                       against a live sandbox, until Ctrl-C (SPEED=60 for an hour of orders a minute)"
	@echo "make down              stop what make up started (from another shell)"
	@echo "make test              install (first run), then run the test suite"
	@echo "make install | venv    create $(VENV) and install pinned dependencies"
	@echo "make lint              ruff over the Python, sqlfluff over the dbt macros (make test runs it first)"
	@echo "make manifest          rewrite dbt_project/manifest.json (the Cosmos manifest of shipshape_reconcile)"
	@echo "make dbt-build         dbt build of every model against the warehouse (AS_OF=... to judge at a moment)"
	@echo "make warehouse-up      start the embedded warehouse (or bootstrap AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE)"
	@echo "make warehouse-down    stop the embedded warehouse (data is kept)"
	@echo "make warehouse-status  where the warehouse is and whether it answers"
	@echo "make lock              regenerate constraints.txt from $(VENV)"
	@echo "make clean | distclean remove build output | also $(VENV) and .data"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt constraints.txt pyproject.toml | $(BIN)/python
	@echo "installing pinned dependencies into $(VENV) (a minute or so the first time)"
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -e '.[sandbox,dev]'
	@touch $@

venv install: $(STAMP)

# The reconcile DAG's tasks are rendered from dbt_project/manifest.json (committed, so a fresh clone
# parses the DAG without any build step). `dbt parse` needs no warehouse; regenerating it here keeps the
# DAG in step with the models; commit the file when it changes.
manifest: $(STAMP)
	$(BIN)/python -m shipshape.dbt manifest

dbt-build: warehouse-up
	$(BIN)/shipshape dbt $(if $(AS_OF),--as-of $(AS_OF)) build

# The manifest is not regenerated here: a test checks that the committed one is current, which it could
# not do if this rewrote it first. sqlfluff over the models needs dbt's templater and so a warehouse: it
# is a test (tests/dbt/test_staging.py); the macros' bodies are linted here (tests/dbt/lint_macros.py).
test: $(STAMP) lint
	$(BIN)/pytest $(PYTEST_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tests/dbt/lint_macros.py

demo: $(STAMP)
	$(BIN)/shipshape demo

up: $(STAMP)
	$(BIN)/shipshape up $(if $(SPEED),--speed $(SPEED)) $(if $(ORDERS),--orders $(ORDERS))

down: $(STAMP)
	$(BIN)/shipshape down

warehouse-up: $(STAMP)
	$(BIN)/python -m shipshape.warehouse up

warehouse-down: $(STAMP)
	$(BIN)/python -m shipshape.warehouse down

warehouse-status: $(STAMP)
	$(BIN)/python -m shipshape.warehouse status

lock: $(STAMP)
	{ echo "# Lock file: the full resolved set of $(VENV) (pip freeze --exclude-editable, shipshape itself excluded)."; \
	  echo "# Use as constraints: pip install -r requirements.txt -c constraints.txt. Regenerate: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -viE '^(shipshape|-e )'; } > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt
	@touch $(STAMP)

clean:
	rm -rf build dist .pytest_cache .ruff_cache include/*.egg-info dbt_project/target dbt_project/logs
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	-if [ -x $(BIN)/python ]; then $(BIN)/python -m shipshape.warehouse down; fi
	rm -rf $(VENV) .data

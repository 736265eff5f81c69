# Baton — developer and CI entry points. GNU make; needs python3 (with venv) and npm.
#
#   make run     install, migrate, seed demo data if empty, serve http://127.0.0.1:8000
#                with a Celery worker + beat beside the server
#   make test    install and run the whole test suite
#   make help    list every target
#
# Settings come from the environment (README "Configuration"): with no REDIS_URL the worker
# uses Kombu's embedded filesystem broker under var/broker; with REDIS_URL it uses Redis.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
CELERY := $(BIN)/celery -A crm

HOST ?= 127.0.0.1
PORT ?= 8000
LOG_LEVEL ?= info
# `make run` runs the worker with threads: light, and fine for SQLite and the embedded broker.
RUN_WORKER_ARGS ?= --pool=threads --concurrency=4
# `make worker` (production style) uses Celery's defaults (prefork, one process per CPU).
WORKER_ARGS ?=
PYTEST_ARGS ?=

# Stamps: re-install only when the requirement files or the npm lock file change.
VENV_STAMP := $(VENV)/.baton-installed
NPM_STAMP  := $(if $(wildcard package-lock.json),node_modules/.baton-installed)

.PHONY: help install assets migrate run serve worker beat prod test lint e2e-deps clean distclean bench

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- Installation -------------------------------------------------------------------------

$(VENV_STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/pip || $(PYTHON) -m venv --clear $(VENV) \
		|| { echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.baton-installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV_STAMP) assets ## create .venv and install Python packages (when requirements change)

assets: $(NPM_STAMP) ## install front-end packages with `npm ci` (when package-lock.json changes)

# --- Running ------------------------------------------------------------------------------

# DEBUG=1 for the local targets unless the environment says otherwise (DEBUG=0 make run).
run serve migrate: export DEBUG ?= 1

migrate: install ## apply database migrations
	$(MANAGE) migrate --noinput

run: migrate ## migrate, seed demo data if empty, serve with a Celery worker + beat beside it
	$(MANAGE) seed_demo --if-empty
	@if [ -n "$${REDIS_URL:-}" ]; then broker="Redis (REDIS_URL)"; else broker="embedded, filesystem"; fi; \
	echo "Starting a Celery worker with embedded beat (broker: $$broker) and the development server"; \
	echo "on http://$(HOST):$(PORT)/ -- Ctrl-C stops both."
	@$(CELERY) worker --beat -l $(LOG_LEVEL) $(RUN_WORKER_ARGS) & \
	worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null || true; wait $$worker 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT TERM; \
	$(MANAGE) runserver $(HOST):$(PORT)

serve: migrate ## the development server alone (no worker; see `make worker` and `make beat`)
	$(MANAGE) runserver $(HOST):$(PORT)

worker: install ## a Celery worker (production style; start as many as the load needs)
	$(CELERY) worker -l $(LOG_LEVEL) $(WORKER_ARGS)

beat: install ## Celery beat, the periodic scheduler (run exactly ONE per deployment)
	$(CELERY) beat -l $(LOG_LEVEL)

# Production on one machine: gunicorn (WEB_CONCURRENCY processes), WORKERS Celery workers of
# WORKER_CONCURRENCY processes each, and beat (BEAT=0 on every machine but one), all supervised
# by supervisord, which restarts any that stops. Needs the production environment (DEBUG=0,
# SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL; README "Running in production").
WORKERS ?= 2
WORKER_CONCURRENCY ?= 2
BEAT ?= 1

prod: install ## production: gunicorn + workers + one beat under supervisord (make prod WORKERS=2 BEAT=1)
	@if [ -z "$${REDIS_URL:-}" ]; then echo "make prod needs REDIS_URL (broker and cache) and DATABASE_URL" >&2; exit 1; fi
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput -v0
	@mkdir -p "$${BATON_DATA_DIR:-$(CURDIR)/var}"
	BATON_BIN="$(abspath $(BIN))" BATON_DATA_DIR="$${BATON_DATA_DIR:-$(CURDIR)/var}" \
	WORKER_PROCESSES=$(WORKERS) WORKER_CONCURRENCY=$(WORKER_CONCURRENCY) \
	BATON_BEAT=$(if $(filter 0,$(BEAT)),false,true) LOG_LEVEL=$(LOG_LEVEL) \
	$(BIN)/supervisord -n -c crm/supervisord.conf

# --- Quality ------------------------------------------------------------------------------

test: install ## run the whole test suite (browser tests need `make e2e-deps`)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV_STAMP) ## ruff and a check that no model change lacks its migration
	$(BIN)/ruff check .
	DJANGO_SETTINGS_MODULE=crm.settings.test $(MANAGE) makemigrations --check --dry-run

e2e-deps: ## install Debian's Chromium for the browser tests (needs root or sudo)
	@if [ -x /usr/bin/chromium ]; then echo "/usr/bin/chromium is installed"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# --- Cleaning -----------------------------------------------------------------------------

clean: ## remove runtime data in var/ (SQLite database, broker, cache), caches and screenshots
	rm -rf var .pytest_cache .ruff_cache .hypothesis tests/e2e/screenshots
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## also remove .venv and node_modules
	rm -rf $(VENV) node_modules

bench: $(VENV_STAMP) ## benchmarks at scale: make bench LEADS=100000 (DATABASE_URL picks the database)
	$(BIN)/python -m bench --leads $(or $(LEADS),100000)

# One command per routine task. `make run` and `make test` are the two a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PORT ?= 8000
# The worker's /metrics for `make run`: moves with PORT, so a second copy (`PORT=8150 make run`) starts beside the first.
WORKER_METRICS_PORT ?= $(shell echo $$(( $(PORT) + 1100 )))
# `make run` logs for a person at a terminal; JSON lines (the default) everywhere else.
LOG_FORMAT ?= console

.PHONY: help run test test-backend test-frontend e2e lint fmt install frontend api-types api-types-check migrate seed bench bench-fanout bench-foreach bench-concurrency bench-scaleout bench-profile bench-instructions bench-guard bench-instructions-baseline bench-scale bench-timers bench-timers-backlog bench-all up down clean

help:
	@echo "make run    - install, migrate, seed demo data, start API + worker + beat on http://127.0.0.1:$(PORT)"
	@echo "make test   - the whole suite (backend on PostgreSQL + RabbitMQ, frontend unit, browser e2e)"
	@echo "make lint   - ruff, mypy, import-linter layers, manage.py check --deploy, makemigrations --check"
	@echo "make bench  - the standard benchmark (real PostgreSQL, RabbitMQ, gunicorn, workers) + ceiling, then timers under a start backlog"
	@echo "make bench-fanout - the same with 4 parallel branches and a merge per execution (no ceiling)"
	@echo "make bench-foreach - a for_each of 1,000 items over a 3-node child schema: children/s, each started once"
	@echo "make bench-concurrency - a flood on a schema limited to 3 running: queued p50/p99, never more than 3"
	@echo "make bench-scaleout - the standard workload with 2 API + 2 worker processes against 1 + 1, interleaved"
	@echo "make bench-peers - the standard workload on n8n 2.8.4 and DBOS 3.4.0 installed outside the repo (N8N_HOME, DBOS_PYTHON)"
	@echo "make sizing RATE=500 - pods, cores and the Helm values for a target rate, from the last make bench"
	@echo "make bench-profile - cProfile of the two hot paths (webhook accept, worker walk), SQL per call"
	@echo "make bench-instructions - instructions per webhook accept and per walk (callgrind; load-independent)"
	@echo "make bench-guard - those against bench/instructions-baseline.json: fails when one grew > 10 % (CI runs it)"
	@echo "make bench-instructions-baseline - re-measure and rewrite that baseline (commit it saying why)"
	@echo "make bench-scale / bench-timers / bench-all - 1M-step scale figures, 10k-timer lateness, all three"
	@echo "make up / make down - docker compose dev stack"
	@echo "make api-types - regenerate the editor's API types (frontend/src/api/schema.d.ts) from the OpenAPI document"

$(VENV)/.installed: requirements/base.txt requirements/local.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/local.txt
	touch $@

install: $(VENV)/.installed $(VENV)/checkov/.installed

# checkov (tests/deploy/test_deploy_checkov.py) in a virtualenv of its own: it pins packaging<24, pytest needs >=24.
$(VENV)/checkov/.installed: requirements/checkov.txt
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install -q -r requirements/checkov.txt
	touch $@

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(shell find frontend/src frontend/index.html -type f 2>/dev/null)
	cd frontend && npm run build

frontend: frontend/dist/index.html

# The editor's API types come from the OpenAPI document the backend generates; lint fails when they are stale.
write_openapi_json = mkdir -p var && $(PY) manage.py spectacular --format openapi-json --file var/openapi.json --settings=config.settings.test

api-types: install frontend/node_modules/.installed
	$(write_openapi_json)
	cd frontend && npm run --silent api-types

api-types-check: install frontend/node_modules/.installed
	$(write_openapi_json)
	cd frontend && npm run --silent api-types:check || { echo "frontend/src/api/schema.d.ts is stale: run make api-types" >&2; exit 1; }

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: install frontend seed
	@echo ""
	@echo "  Schema is starting (Ctrl-C stops it all):"
	@echo "    web     editor + API  http://127.0.0.1:$(PORT)/   sign in: demo@schema.local / demo"
	@echo "            API docs      http://127.0.0.1:$(PORT)/api/docs/   admin: http://127.0.0.1:$(PORT)/admin/"
	@echo "    worker  runs the executions; metrics http://127.0.0.1:$(WORKER_METRICS_PORT)/metrics"
	@echo "    beat    cron triggers and the reconciler"
	@echo "    data    $(if $(DATABASE_URL),DATABASE_URL,var/db.sqlite3); broker $(if $(RABBITMQ_URL),RABBITMQ_URL,var/broker/ (files))"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" WORKER_METRICS_PORT=$(WORKER_METRICS_PORT) LOG_FORMAT=$(LOG_FORMAT) \
	  $(BIN)/honcho start -f Procfile

test: test-backend test-frontend e2e

test-backend: install
	$(BIN)/pytest

test-frontend: frontend/node_modules/.installed
	cd frontend && npm test

e2e: install frontend
	$(PY) scripts/run_e2e.py

lint: install api-types-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	DJANGO_SECRET_KEY=lint-only-$$(head -c 64 /dev/urandom | base64 | tr -dc A-Za-z0-9) \
	  DATABASE_URL=postgres://lint@127.0.0.1/lint RABBITMQ_URL=amqp://lint@127.0.0.1// \
	  DJANGO_ALLOWED_HOSTS=schema.example.com SCHEMA_CREDENTIAL_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	  $(PY) manage.py check --deploy --fail-level WARNING --settings=config.settings.production
	$(PY) -W ignore manage.py makemigrations --check --dry-run --settings=config.settings.test

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) bench/run.py
	$(PY) bench/timers.py --timers 1000 --backlog 5000 --spread 20

bench-fanout: install
	$(PY) bench/run.py --workload fanout

bench-foreach: install
	$(PY) bench/foreach.py

bench-concurrency: install
	$(PY) bench/concurrency.py

bench-scaleout: install
	$(PY) bench/scaleout.py

.PHONY: bench-peers sizing
sizing:
	$(PY) bench/sizing.py --rate $(or $(RATE),500) $(SIZING_ARGS)

bench-peers: install
	$(PY) bench/peers.py

bench-profile: install
	$(PY) bench/hotpaths.py

bench-instructions: install
	$(PY) bench/instructions.py

bench-guard: install
	$(PY) bench/instructions.py --check

bench-instructions-baseline: install
	$(PY) bench/instructions.py --update-baseline

bench-scale: install
	$(PY) bench/scale.py

bench-timers: install
	$(PY) bench/timers.py

bench-timers-backlog: install
	$(PY) bench/timers.py --timers 1000 --backlog 5000 --spread 20

bench-all: bench bench-scale bench-timers

up:
	docker compose up --build

down:
	docker compose down

clean:
	rm -rf var staticfiles frontend/dist

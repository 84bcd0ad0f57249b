# The two commands: `make run` serves the relay on 127.0.0.1:8000, `make test` runs every test.
# Both create the virtualenv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# daphne resets a connection over its message limit; keep it above the protocol's 1 MiB hard
# limit so the relay itself answers 1009.
SERVE := $(PY) -m daphne -b $(HOST) -p $(PORT) --websocket-max-message-size 2097152 \
	--websocket-max-frame-size 2097152 config.asgi:application

.PHONY: run test lint install bench bench-smoke

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Development: DEBUG on (it is off unless set), so no SECRET_KEY or HTTPS is needed.
run: export DEBUG = 1
# The task worker (webhook deliveries) runs in the background beside the server and is
# stopped when the server exits.
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_project --host $(HOST):$(PORT)
	$(PY) manage.py run_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(SERVE)

lint: export DEBUG = 1
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# PYTEST_ARGS narrows the run (.ci/run: `-m redis` for the second Redis layer).
test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/): `make bench` measures every server configuration against the reference
# relay and writes docs/performance.md and docs/perf/ (about 25 minutes on 2 cores);
# `make bench-smoke` runs every scenario once at tiny sizes and writes nothing.
bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/run.py

bench-smoke: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/run.py --quick --no-write

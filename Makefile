# Two commands matter: `make run` (embedded demo, no services) and `make test` (lint + pytest on
# the real PostgreSQL and Redis). Both create the virtualenv and install on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=5001` when 5000 is taken.
PORT ?= 5000

.PHONY: run test lint typecheck format bench worker clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rewards demo --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rewards campaigns workers api
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rewards campaigns workers api

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: $(STAMP)
	$(BIN)/rewards worker

bench: $(STAMP)
	$(BIN)/python bench/feed_throughput.py
	$(BIN)/python bench/api_latency.py

clean:
	rm -rf $(VENV) instance/*.sqlite3 .pytest_cache .mypy_cache .ruff_cache

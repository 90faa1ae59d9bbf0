# VoxSaaS: `make run` serves the product on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin

.PHONY: run test check migrate seed worker beat clean help

help:
	@echo "make run    - install, migrate, seed the demo tenant and serve on http://127.0.0.1:$(PORT)"
	@echo "make test   - install test dependencies and run the whole test suite"
	@echo "make check  - ruff, mypy and the import-linter contracts"
	@echo "make worker - a Celery worker (needs REDIS_URL; without it tasks run inside the web process)"
	@echo "make beat   - Celery beat: webhook retry sweep, lost-call reaper (exactly one per deployment)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# `make run` is for development and demos: DEBUG on unless the environment says otherwise.
run: export DEBUG ?= true
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT) (Ctrl-C stops)"
	$(BIN)/python -m voxsaas.serve -b 127.0.0.1 -p $(PORT)

migrate: export DEBUG ?= true
migrate: $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput

worker: export DEBUG ?= true
worker: $(VENV)/.runtime-installed
	$(BIN)/celery -A voxsaas worker --loglevel=INFO

beat: export DEBUG ?= true
beat: $(VENV)/.runtime-installed
	$(BIN)/celery -A voxsaas beat --loglevel=INFO

test: $(VENV)/.dev-installed
	$(BIN)/pytest

check: export DEBUG ?= true
check: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

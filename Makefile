# Two commands on a fresh machine:  `make demo` (runs the product with demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)

.PHONY: install demo crowd test lint format clean

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(INSTALLED)

install: $(INSTALLED)

# Embedded defaults unless DATABASE_URL / REDIS_URL are set: SQLite in var/, Celery in-process.
demo: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py refresh_stats
	DEBUG=1 $(BIN)/python manage.py runserver --noreload 127.0.0.1:8000

# With `make demo` running: a simulated crowd (honest workers and spammers) against its API.
crowd: install
	DEBUG=1 $(BIN)/python manage.py simulate_crowd --url http://127.0.0.1:8000 --workers 12 --spammers 3 --seconds 30
	DEBUG=1 $(BIN)/python manage.py refresh_stats

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis

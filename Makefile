# Tenure: `make run` starts the whole system locally, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint fuzz bench demo cycle install system-deps kafka-fetch keycloak-fetch browser-deps clean help

help:
	@echo "make run    start the whole system (Kafka, services, relays, consumers) on SQLite"
	@echo "make test   run every test (unit, integration on PostgreSQL + Kafka, end to end)"
	@echo "make lint   ruff"
	@echo "make bench  benchmarks (print figures)"
	@echo "make demo   drive the demo scenario through the APIs (start make run first)"
	@echo "make cycle  two annual cycles and a tenure for 200 managers (start make run first)"
	@echo "make fuzz   schemathesis against every service's OpenAPI document"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash deploy/local/install-system-deps.sh

kafka-fetch: install system-deps
	@$(PY) deploy/local/local_kafka.py fetch

# Keycloak (identity provider of the OIDC tests) and, where no Java 21+ is found, a JDK.
keycloak-fetch: install
	@$(PY) deploy/local/local_keycloak.py fetch

run: install system-deps kafka-fetch
	$(PY) deploy/local/run_system.py

browser-deps:
	@test -f tests/browser/node_modules/axe-core/axe.min.js || npm ci --prefix tests/browser --no-audit --no-fund --silent

test: install system-deps kafka-fetch keycloak-fetch browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install system-deps
	@bash deploy/local/install-system-deps.sh --bench
	$(PY) bench/run_all.py

demo: install
	$(PY) deploy/local/demo.py $(DEMO_ARGS)

cycle: install
	$(PY) deploy/local/annual_cycle.py $(CYCLE_ARGS)

fuzz: install
	$(PY) -m pytest -m fuzz -q

clean:
	rm -rf var .pytest_cache .ruff_cache

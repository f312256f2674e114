# The README's commands. Each one sets up what it needs (.venv, requirements).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Tests never run with a real secret; Django's test runner turns DEBUG off.
TEST_ENV := DJANGO_SECRET_KEY=test-only-not-secret

.PHONY: run test pytest lint hooks kubernetes screenshot venv clean soak

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	scripts/ensure-venv $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## run: serve the API with gunicorn on $(HOST):$(PORT) (SQLite unless DATABASE_URL is set)
run: $(INSTALLED)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} scripts/serve $(HOST):$(PORT)

## test: lint and types, the hooks, the Kubernetes manifests, the suite, the
## container, failover and Citus stages; then the work tree must be as it was
## (in CI: clean), since no test may write a tracked file
test: $(INSTALLED)
	scripts/leaves-tree-clean $(MAKE) --no-print-directory lint hooks kubernetes pytest container-check failover-check citus-check

## pytest: the suite alone (a throwaway PostgreSQL unless DATABASE_URL is set)
pytest: $(INSTALLED)
	$(BIN)/python manage.py makemigrations --check --dry-run
	scripts/ensure-browser
	scripts/ensure-iptables
	$(TEST_ENV) scripts/with-postgres $(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff (lint, format) and mypy (strict for carts/); settings in pyproject.toml
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## kubernetes: render deploy/kubernetes and validate it offline against the API's schemas
kubernetes: $(INSTALLED)
	VENV=$(VENV) scripts/check-kubernetes

## hooks: the pre-commit hooks (.pre-commit-config.yaml) on every file
hooks: $(INSTALLED)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

## screenshot: retake docs/admin-cart.png and docs/storefront.png with the
## admin's and the storefront's browser tests
screenshot: $(INSTALLED)
	scripts/ensure-browser
	ADMIN_SCREENSHOT=$(CURDIR)/docs/admin-cart.png \
	STOREFRONT_SCREENSHOT=$(CURDIR)/docs/storefront.png \
	  $(TEST_ENV) scripts/with-postgres \
	  $(BIN)/pytest tests/test_admin_browser.py tests/test_storefront_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache staticfiles

## soak: 2 minutes of mixed load on gunicorn + PostgreSQL; writes bench/soak-last.json
soak: $(INSTALLED)
	$(TEST_ENV) scripts/with-postgres $(BIN)/python -m bench.soak

## bench: the service against the bare-Python floor under wrk; writes bench/RESULTS.md
# Always on a throwaway cluster: the bench creates 10,000 users.
.PHONY: bench
bench: $(INSTALLED)
	env -u DATABASE_URL scripts/with-postgres $(BIN)/python bench/run.py $(BENCH_ARGS)

## bench-instructions: instructions per add and get (callgrind), against
## BENCH_ARGS="--baseline REV"; installs Debian's valgrind when missing (as
## root, as the test stages install their packages). Prints a table.
.PHONY: bench-instructions
bench-instructions: $(INSTALLED)
	command -v valgrind >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; }
	env -u DATABASE_URL scripts/with-postgres $(BIN)/python bench/instructions.py $(BENCH_ARGS)

## bench-scale: how the cost grows (10k to 1M carts, 1 to 100 lines, stored
## keys, gRPC new ids, a purge under load); writes bench/SCALE.md and its plots.
# About 20 minutes; always on a throwaway cluster: it loads a million carts.
.PHONY: bench-scale
bench-scale: $(INSTALLED)
	env -u DATABASE_URL scripts/with-postgres $(BIN)/python bench/scale.py $(BENCH_ARGS)

## container-check: lint the Docker files, then build, run and test the compose stack
CONTAINER_TOOLS := $(VENV)/.container-tools

$(CONTAINER_TOOLS): requirements-docker.txt $(INSTALLED)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-docker.txt
	touch $@

container-check: $(CONTAINER_TOOLS)
	scripts/ensure-iptables
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/container-check

## failover-check: the HA stack (Patroni, etcd, HAProxy) losing its primary under load
failover-check: $(CONTAINER_TOOLS)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/failover-check

## citus-check: the compose stack on a Citus cluster; the suite's database tests
## on it, every hot statement on one worker, a worker added under load
citus-check: $(CONTAINER_TOOLS)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/citus-check

.PHONY: container-check failover-check citus-check

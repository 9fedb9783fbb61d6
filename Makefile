# Daguerre developer entry points. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
HOST ?= 127.0.0.1
PORT ?= 9292
DATA ?= ./data

.PHONY: help install run test test-quick test-tempest lint fmt lock bench bench-quick fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: ## install what is missing (Debian qemu-utils, venv, Python packages)
	@scripts/bootstrap.sh

run: install ## serve the Images API v2 on 127.0.0.1:9292 (SQLite + files under ./data)
	$(VENV)/bin/daguerre serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: ## install and run the whole suite (PostgreSQL, Ceph and Tempest included)
	@scripts/bootstrap.sh --test
	@scripts/test-all.sh

test-quick: install ## the inner loop: everything but Ceph, Keystone, Tempest and slow tests
	DAGUERRE_SKIP_CEPH=1 $(PYTEST) -q -m "not slow and not ceph" -x --ignore=tests/openstack

lint: install ## ruff, the tier contracts (import-linter) and mypy
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

fmt: install ## format the code
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

lock: ## re-resolve requirements.lock to the newest versions pyproject.toml allows (then run make test)
	@scripts/lock.sh

bench: install ## full benchmark run; writes bench/results and docs/PERFORMANCE.md
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
	$(PY) bench/run.py --snapshot HEAD

bench-quick: install ## small benchmark smoke run
	$(PY) bench/run.py --quick

fuzz: install ## longer fuzzing: format inspectors (DAGUERRE_FUZZ_EXAMPLES, default 2000) and every API route (DAGUERRE_API_FUZZ_EXAMPLES, default 50)
	DAGUERRE_FUZZ_EXAMPLES=$${DAGUERRE_FUZZ_EXAMPLES:-2000} $(PYTEST) -q -p no:cacheprovider tests/formats/test_formats_fuzz.py
	DAGUERRE_API_FUZZ_EXAMPLES=$${DAGUERRE_API_FUZZ_EXAMPLES:-50} DAGUERRE_API_FUZZ_RANDOM=1 DAGUERRE_SKIP_CEPH=1 \
		$(PYTEST) -q -p no:cacheprovider tests/fuzz/test_api_fuzz.py

clean: ## remove local data and caches
	rm -rf $(DATA) .pytest_cache .ruff_cache

test-tempest: install ## only OpenStack Tempest's image suite against Daguerre behind Keystone
	scripts/openstack/setup.sh
	scripts/tempest.sh

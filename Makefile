# RL PostFlow - one virtualenv, three verbs. `make demo` and `make test` set everything up
# themselves on a fresh machine (Python 3.11 and network access to PyPI are all they need).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Installs come from uv.lock (every package, version and hash, resolved once for Linux and
# macOS). uv itself lives in its own small virtualenv so `uv sync` can keep .venv exact.
UV_VERSION := 0.13.8
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
# uv trusts the system's certificate store (as pip and curl do), not only its own bundled roots:
# a studio's TLS-inspecting proxy, or a mirror with a private CA, is then trusted the same way.
export UV_SYSTEM_CERTS ?= 1

.PHONY: install lock demo test lint format bench soak clean

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

# --locked: fail, instead of resolving again, when pyproject.toml and uv.lock disagree.
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --quiet --locked --extra dev --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools, from uv.lock

# An upgrade is deliberate: `make lock` after changing pyproject.toml, or
# `make lock LOCK_ARGS="--upgrade-package prefect"`; then run `make test` and commit uv.lock.
lock: $(UV)  ## resolve pyproject.toml into uv.lock again
	$(UV) lock $(LOCK_ARGS)

demo: $(STAMP)  ## run the whole pipeline locally (sandbox Frame.io + Discord receiver + Prefect)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/postflow demo

# Two pytest-xdist workers, one test module each at a time (module fixtures stay whole): most
# integration tests wait on loopback servers, so two workers halve the wall time on 2 cores.
test: $(STAMP) lint  ## lint, then the whole test suite (unit + integration on loopback)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)  ## the one check, as CI runs it: lint, format, import layers, types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)  ## fix what ruff can fix and format the tree
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## every benchmark, one table of figures/peers/goals (<= 15 min; prints, asserts nothing)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
# The long sensor-RSS run:  make bench BENCH_ARGS="--only P4 --minutes 30"

soak: $(STAMP)  ## the full soak: real sensor vs sandbox, faults, outage, kill -9s (~15 min)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) $(UV_HOME) .pytest_cache .ruff_cache

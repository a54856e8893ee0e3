# RL PostFlow - one virtualenv, three verbs. `make demo` and `make test` set everything up
# themselves on a fresh machine (Python 3.11 and network access to PyPI are all they need).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint format bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools

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
	rm -rf $(VENV) .pytest_cache .ruff_cache

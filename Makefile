# Two entry points: `make serve` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two install stamps: `make serve` needs the runtime dependencies only; the
# test toolchain (pytest, mypy, ruff, Playwright, the official SDKs used as
# judges) is installed by the targets that run it.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev

.PHONY: install install-runtime serve test lint typecheck unit browser-deps plugin-deps postgres-deps bench clean

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# The developer install (what the test targets use); `install-runtime` is
# what `make serve` needs.
install: $(DEV_STAMP)

install-runtime: $(RUNTIME_STAMP)

# Change the port or anything else with ARGS, e.g. `make serve ARGS="--port 9000"`.
serve: install-runtime
	$(BIN)/pluma serve $(ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

browser-deps:
	@scripts/ensure-chromium.sh

plugin-deps:
	@scripts/ensure-go-plugin-deps.sh

postgres-deps:
	@scripts/ensure-postgres.sh

unit: install
	$(BIN)/python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

test: install browser-deps plugin-deps postgres-deps lint typecheck unit

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

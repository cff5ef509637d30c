# llmportal: `make run` serves, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-sqlite test-scale lint typecheck bench migration-initial clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/llmportal serve

test: $(STAMP) lint
	bash scripts/test.sh

test-sqlite: $(STAMP)
	$(BIN)/pytest

test-scale: $(STAMP)
	LLMPORTAL_TEST_DATABASE_URL=$(PG_TEST_URL) LLMPORTAL_TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy

migration-initial: $(STAMP)
	$(BIN)/python scripts/regen_initial_migration.py
	$(BIN)/ruff format src/llmportal/migrations/versions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# llmportal: `make run` serves, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package pinned (see scripts/lock.py); `make lock` rewrites it from pyproject.toml.
LOCK := requirements.lock

# llama.cpp is compiled from source at install. Built for the machine's own CPU (-march=native,
# its default) each machine would run other kernels than the ones CI ran; this pins one
# instruction set per architecture. Override for a GPU build, e.g. LLAMA_CMAKE_ARGS=-DGGML_CUDA=on.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif

PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0

WEB_BUILD := src/llmportal/static/index.html
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package.json web/package-lock.json

.PHONY: run test test-sqlite test-scale lint typecheck bench migration-initial clean web lock

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c $(LOCK) pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	$(BIN)/python scripts/lock.py check
	touch $(STAMP)

# Re-resolve every dependency from pyproject.toml in a throwaway venv and pin the result.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" .venv-lock/bin/python -m pip install --quiet '.[dev]'
	.venv-lock/bin/python scripts/lock.py write
	rm -rf .venv-lock build

# The browser app: npm packages from the registry, bundled by esbuild into src/llmportal/static.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_BUILD)

run: $(STAMP) $(WEB_BUILD)
	$(BIN)/llmportal serve

test: $(STAMP) lint $(WEB_BUILD)
	bash scripts/test.sh

test-sqlite: $(STAMP) $(WEB_BUILD)
	$(BIN)/pytest

test-scale: $(STAMP)
	LLMPORTAL_TEST_DATABASE_URL=$(PG_TEST_URL) LLMPORTAL_TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy

LITELLM_VENV := bench/.venv-litellm
LITELLM_VERSION ?= 1.108.7

$(LITELLM_VENV)/.installed:
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'
	touch $@

# The portal and LiteLLM's proxy against the same fake upstream; results in bench/results/.
bench: $(STAMP) $(LITELLM_VENV)/.installed
	$(BIN)/python -m bench.run

migration-initial: $(STAMP)
	$(BIN)/python scripts/regen_initial_migration.py
	$(BIN)/ruff format src/llmportal/migrations/versions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules src/llmportal/static

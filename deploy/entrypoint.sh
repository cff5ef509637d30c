#!/bin/sh
# The container's entrypoint: upgrade the database schema, then hand the process to the portal.
# `docker run IMAGE` serves; `docker run IMAGE llmportal user create ...` runs that command.
set -eu

if [ "$#" -eq 0 ]; then
  set -- llmportal serve --host "${LLMPORTAL_HOST:-0.0.0.0}" --port "${LLMPORTAL_PORT:-8000}"
fi

if [ "$1" = "llmportal" ] && [ "${2:-}" = "serve" ]; then
  llmportal migrate
fi

exec "$@"

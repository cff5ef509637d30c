"""Logging: human-readable on a terminal, JSON lines otherwise; one access line per request.

Access lines carry request id, method, route, status, latency, user id and the key's prefix;
never bodies, secrets, prompts or completions.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable
from starlette.types import Scope

from llmportal.jsonio import dumps_str
from llmportal.metrics.instruments import observe_http

access_log = logging.getLogger("llmportal.access")
# The current request's id: on every log line written while serving it, and sent upstream.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def with_request_id(headers: dict[str, str]) -> dict[str, str]:
    """Upstream request headers, plus X-Request-ID when serving a request."""
    request_id = request_id_var.get()
    return {**headers, "X-Request-ID": request_id} if request_id else headers


class JsonFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)  # the "Z" below says UTC, whatever the time zone

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return dumps_str(out)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return line


def configure_logging(log_format: str | None) -> None:
    fmt = log_format or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def log_access(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    """The request's access line and HTTP metrics (middleware.PortalMiddleware calls it)."""
    state = scope.get("state", {})
    principal = state.get("principal")
    key = getattr(principal, "api_key", None) if principal else None
    route = getattr(scope.get("route"), "path", None)
    observe_http(scope["method"], route, status, seconds)
    access_log.info(
        "%s %s %s",
        scope["method"],
        scope["path"],
        status,
        extra={
            "fields": {
                "request_id": request_id,
                "route": route,
                "status": status,
                "ms": round(seconds * 1000, 1),
                "user": _loaded(principal.user, "id") if principal else None,
                "key": _loaded(key, "prefix"),
            }
        },
    )


def sane_request_id(value: bytes) -> str | None:
    """An incoming X-Request-ID worth keeping: 1-64 letters, digits, '-', '_', '.'."""
    text = value.decode("latin-1")
    if 0 < len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text):
        return text
    return None


def _loaded(obj: Any, name: str) -> Any:
    """An attribute of a row without loading it: after a failed commit the rows of the request
    are expired and detached, and the access log must not fail the request for them."""
    if obj is None:
        return None
    try:
        state = sa_inspect(obj)
    except NoInspectionAvailable:
        return getattr(obj, name, None)
    value = state.dict.get(name)
    if value is None and name == "id" and state.identity:
        return state.identity[0]
    return value

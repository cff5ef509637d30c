"""A database that does not answer is 503 {"error": "Database unavailable"}, never a 500.

PostgreSQL restarting, a connection dropped mid-query, a pool with no free connection within
`pool_timeout`, a SQLite file that cannot be opened or stays locked: the request fails fast with
503 and the next one tries again (pool_pre_ping replaces dead pooled connections), so the portal
recovers without a restart. Any other database error is a bug: logged, and a 500.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc

from llmportal.jsonio import FastJSONResponse

log = logging.getLogger("llmportal.db")

DATABASE_UNAVAILABLE = "Database unavailable"
RETRY_AFTER_S = "2"

# SQLite errors that mean "cannot get at the database now", not "this statement is wrong".
_SQLITE_UNAVAILABLE = (
    "unable to open database",
    "database is locked",
    "disk i/o error",
    "readonly database",
    "database disk image is malformed",
)

# Raised as they are (not wrapped by SQLAlchemy) when a new connection cannot be made.
_CONNECT_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # asyncpg's connect timeout
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # shutting down, cannot connect now, statement timeout
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,  # the connection died mid-operation
)


def database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (sa_exc.TimeoutError, *_CONNECT_ERRORS)):  # pool timeout, connect failure
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    # The driver's own error: SQLAlchemy's asyncpg adapter raises its translation from it.
    cause = exc.orig.__cause__ if exc.orig is not None else None
    if isinstance(exc.orig, _CONNECT_ERRORS) or isinstance(cause, _CONNECT_ERRORS):
        return True
    if isinstance(exc, sa_exc.OperationalError):
        if "sqlite" in type(exc.orig).__module__:
            message = str(exc.orig).lower()
            return any(text in message for text in _SQLITE_UNAVAILABLE)
        return True  # PostgreSQL: shutting down, connection lost, too many clients, ...
    return False


def install_database_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> FastJSONResponse:
        if database_unavailable(exc):
            log.warning(
                "database unavailable on %s %s: %s: %s",
                request.method,
                request.url.path,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            return FastJSONResponse(
                {"error": DATABASE_UNAVAILABLE},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER_S},
            )
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return FastJSONResponse({"error": "Internal server error"}, status_code=500)

    # DBAPIError, not only its Operational/Interface kinds: a connection that PostgreSQL ends
    # mid-statement surfaces as a plain DBAPIError or an InternalError, flagged invalidated.
    handled: tuple[type[Exception], ...] = (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        *_CONNECT_ERRORS,
    )
    for cls in handled:
        app.add_exception_handler(cls, handle)

"""A database that does not answer: 503 {"error": "Database unavailable"} at once, JSON, and
the next request after it is back succeeds without restarting the portal."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from llmportal.db import create_engine, make_sessionmaker
from llmportal.errors import install_error_handlers
from llmportal.portal import Portal
from tests.fixtures import factories
from tests.fixtures.backends import scale_database_url
from tests.fixtures.upstreams import free_port

DOWN = {"error": "Database unavailable"}


def _raising(exc: BaseException) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return app


def _wrapped(orig: Exception) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, orig)


def _translated(driver_error: Exception) -> sa_exc.DBAPIError:
    """As SQLAlchemy's asyncpg adapter raises a driver error: its own translation, raised
    from the driver's, wrapped in a DBAPIError."""
    translated = Exception(str(driver_error))
    translated.__cause__ = driver_error
    return sa_exc.DBAPIError("connect", {}, translated)


@pytest.mark.parametrize(
    "exc",
    [
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        _wrapped(sqlite3.OperationalError("database is locked")),
        _wrapped(sqlite3.OperationalError("unable to open database file")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        # What a statement in flight meets when PostgreSQL shuts down (pg_ctl stop -m fast).
        sa_exc.DBAPIError(
            "SELECT 1",
            {},
            Exception("connection was closed in the middle of operation"),
            connection_invalidated=True,
        ),
        sa_exc.InternalError(
            "COMMIT",
            {},
            Exception("cannot switch to state 15; another operation (2) is in progress"),
            connection_invalidated=True,
        ),
        _translated(asyncpg.CannotConnectNowError("the database system is starting up")),
    ],
    ids=[
        "pool-timeout",
        "refused",
        "connect-timeout",
        "locked",
        "cannot-open",
        "closed",
        "closed-mid-statement",
        "broken-protocol",
        "starting-up",
    ],
)
async def test_unavailable_database_errors_are_503(exc: BaseException) -> None:
    transport = httpx.ASGITransport(app=_raising(exc))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom")
    assert (r.status_code, r.json()) == (503, DOWN)
    assert r.headers["retry-after"] == "2"


async def test_a_wrong_statement_is_still_a_500() -> None:
    app = _raising(_wrapped(sqlite3.OperationalError("no such column: nope")))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom")
    assert (r.status_code, r.json()) == (500, {"error": "Internal server error"})


@asynccontextmanager
async def database_away(portal: Portal) -> AsyncIterator[None]:
    """The portal's database replaced by a PostgreSQL port where nothing listens."""
    engine, sessionmaker = portal.engine, portal.sessionmaker
    dead = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone")
    portal.engine, portal.sessionmaker = dead, make_sessionmaker(dead)
    try:
        yield
    finally:
        portal.engine, portal.sessionmaker = engine, sessionmaker
        await dead.dispose()


async def test_requests_fail_fast_with_503_while_the_database_is_away_then_recover(
    portal: Portal, client: httpx.AsyncClient, user: Any
) -> None:
    await factories.login(client, user.email)
    async with database_away(portal):
        started = time.monotonic()
        profile = await client.get("/api/user/profile")
        login = await client.post(
            "/api/auth/login", json={"email": user.email, "password": factories.PASSWORD}
        )
        ready = await client.get("/health/ready")
        elapsed = time.monotonic() - started
    assert (profile.status_code, profile.json()) == (503, DOWN)
    assert (login.status_code, login.json()) == (503, DOWN)
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
    assert elapsed < 10  # fast failure, not a hang (generous: this is not a timing test)

    # Back: the same process answers again.
    assert (await client.get("/api/user/profile")).status_code == 200
    assert (await client.get("/health/ready")).status_code == 200


@pytest.mark.skipif(scale_database_url() is None, reason="needs PostgreSQL")
async def test_postgresql_connections_dropped_are_replaced_without_a_restart(
    portal: Portal, client: httpx.AsyncClient, user: Any
) -> None:
    """What a PostgreSQL restart does to the pool: every server connection ends. The pooled
    ones are dead; pre-ping notices and reconnects, so the next request simply works."""
    await factories.login(client, user.email)
    assert (await client.get("/api/user/profile")).status_code == 200
    url = portal.engine.url.set(drivername="postgresql+asyncpg")
    admin = create_engine(url.render_as_string(hide_password=False))
    try:
        async with admin.connect() as conn:
            ended = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert ended.scalar_one() >= 1
    finally:
        await admin.dispose()
    for _ in range(3):
        r = await client.get("/api/user/profile")
        assert r.status_code == 200, r.text

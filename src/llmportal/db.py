"""Engines, the per-request session (one transaction, committed once), naming convention."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import DateTime, MetaData, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from llmportal.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


POOL_TIMEOUT_S = 5.0  # waiting for a free pooled connection
CONNECT_TIMEOUT_S = 5.0  # opening a new PostgreSQL connection


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Fail fast when PostgreSQL is away (503 "Database unavailable", see db_errors), and replace
    # dead pooled connections after it comes back (pre-ping), so no restart is needed.
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


_ON_ROLLBACK = "llmportal.on_rollback"


def on_rollback(session: AsyncSession, undo: Callable[[], Awaitable[None]]) -> None:
    """Run `undo` if the session's current transaction does not commit: for work outside the
    database (bytes put in storage) that a row of this transaction points at."""
    session.info.setdefault(_ON_ROLLBACK, []).append(undo)


_AFTER_COMMIT = "llmportal.after_commit"


def after_commit(session: Session, then: Callable[[], Awaitable[None]]) -> None:
    """Await `then` once the request's transaction is over, before its answer is sent: for
    telling other instances about a write that committed (call it from an after_commit event)."""
    hooks: list[Callable[[], Awaitable[None]]] = session.info.setdefault(_AFTER_COMMIT, [])
    if then not in hooks:
        hooks.append(then)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_ON_ROLLBACK, None)


async def _run_after_commit(session: AsyncSession) -> None:
    with anyio.CancelScope(shield=True):
        for then in session.info.pop(_AFTER_COMMIT, []):
            await then()


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed once at the end, rolled back on any error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            with anyio.CancelScope(shield=True):
                for undo in session.info.pop(_ON_ROLLBACK, []):
                    await undo()
            # A commit made earlier in the request (an upload's) still has to be told.
            await _run_after_commit(session)
            raise
        await _run_after_commit(session)


transaction = asynccontextmanager(session_scope)

"""The batched usage writer: completions hand it records, a background task inserts them.

The hot path only calls `add()` (no I/O, no awaiting). Every ~150 ms, or as soon as `batch_size`
records wait, the task inserts the waiting records in one transaction together with their rollup
(usage.rollup.add_to_rollup). Shutdown drains the queue. A batch that the database refuses (say,
a record whose user was deleted meanwhile) is retried record by record so one bad row costs only
itself. A database that does not answer (PostgreSQL restarting) loses nothing: the records wait
and are tried again, less often while it lasts (up to every RETRY_MAX_S).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.db import transaction, utcnow
from llmportal.db_errors import database_unavailable
from llmportal.ids import new_id
from llmportal.metrics import instruments as metrics
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.usage.rollup import add_to_rollup

log = logging.getLogger("llmportal.usage.writer")

RETRY_MAX_S = 2.0


class UsageWriter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 0.15,
        batch_size: int = 200,
        max_queue: int = 100_000,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_queue)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._added = 0  # records accepted so far
        self._done = 0  # records written (or given up on) so far
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._held: list[dict[str, Any]] = []  # taken from the queue, database away

    def add(self, record: UsageRecord | dict[str, Any]) -> None:
        """Queue one record (or its column values); never blocks. A full queue (the database is
        down for a long time) drops the record with an error in the log rather than stalling
        completions."""
        values = _values(record) if isinstance(record, UsageRecord) else record
        metrics.observe_completion(values, values.pop("deployment", None))
        try:
            self._queue.put_nowait(values)
        except asyncio.QueueFull:
            metrics.WRITER_DROPPED.inc()
            log.error("usage queue full: dropped the record of user %s", values["user_id"])
            return
        metrics.WRITER_QUEUE.inc()
        self._added += 1
        if self._queue.qsize() >= self.batch_size and not self._held:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def flush(self) -> None:
        """Return once every record added before this call is in the database."""
        target = self._added
        if self._task is None:
            await self._drain()
            return
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
        if not await self._drain():
            lost = len(self._held) + self._queue.qsize()
            metrics.WRITER_DROPPED.inc(lost)
            log.error("database unavailable at shutdown: %d usage records not saved", lost)

    async def _run(self) -> None:
        pause = self.interval_s
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            try:
                written = await self._drain()
            except Exception:  # never let the writer die; the next tick tries again
                log.exception("usage writer failed")
                continue
            if written:
                if pause > self.interval_s:
                    log.warning("database back: the usage records that waited are saved")
                pause = self.interval_s
            else:
                if pause == self.interval_s:
                    log.warning("database unavailable: usage records wait in memory")
                pause = min(pause * 2, RETRY_MAX_S)

    async def _drain(self) -> bool:
        """Write everything waiting; False when the database is away (the rest waits)."""
        while self._held or not self._queue.empty():
            batch, self._held = self._held, []
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            metrics.WRITER_QUEUE.dec(len(batch))
            started = time.perf_counter()
            kept = await self._write(batch)
            metrics.WRITER_FLUSH.observe(time.perf_counter() - started)
            async with self._progress:
                self._done += len(batch) - len(kept)
                self._progress.notify_all()
            if kept:
                self._held = kept
                metrics.WRITER_QUEUE.inc(len(kept))
                return False
        return True

    async def _write(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert the batch; returns the records kept back because the database is away."""
        try:
            await self._insert(batch)
            return []
        except Exception as exc:
            if database_unavailable(exc):
                return batch
            if len(batch) == 1:
                metrics.WRITER_DROPPED.inc()
                log.exception("usage record of user %s not saved", batch[0]["user_id"])
                return []
            log.warning("usage batch of %d refused; saving records one by one", len(batch))
        for i, record in enumerate(batch):
            try:
                await self._insert([record])
            except Exception as exc:
                if database_unavailable(exc):
                    return batch[i:]
                metrics.WRITER_DROPPED.inc()
                log.exception("usage record of user %s not saved", record["user_id"])
        return []

    async def _insert(self, batch: list[dict[str, Any]]) -> None:
        full = [_complete(values) for values in batch]
        async with transaction(self._sessionmaker) as db:
            # Core executemany: the ORM unit of work costs more than the insert itself.
            for rows in _same_columns(full):
                await db.execute(_INSERT, rows)
            await add_to_rollup(db, [SimpleNamespace(**row) for row in full])


_COLUMNS = [c.key for c in UsageRecord.__table__.columns]


def _values(record: UsageRecord) -> dict[str, Any]:
    """The record's column values: queued as plain data, so a refused batch can be rebuilt
    into fresh rows (an object from a rolled-back session cannot be added again)."""
    values = {k: getattr(record, k) for k in _COLUMNS}
    return {k: v for k, v in values.items() if v is not None or k in _NULLABLE}


_NULLABLE = {"api_key_id", "org_id", "session_id", "request_id", "provider", "error"}
_TABLE = cast(Table, UsageRecord.__table__)
_INSERT = insert(_TABLE)
_DEFAULTS = {
    c.key: getattr(c.default, "arg", None)
    for c in _TABLE.columns
    if c.default is not None and c.default.is_scalar
}


def _complete(values: dict[str, Any]) -> dict[str, Any]:
    """Every column a record leaves out, filled as the ORM would: defaults, a new id, now."""
    row = {**_DEFAULTS, **values}
    if not row.get("id"):
        row["id"] = new_id()
    if row.get("created_at") is None:
        row["created_at"] = utcnow()
    return row


def _same_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the columns they name: one executemany needs the same columns."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


async def startup(portal: Portal) -> None:
    writer = UsageWriter(portal.sessionmaker)
    await writer.start()
    portal.services["usage_writer"] = writer


async def shutdown(portal: Portal) -> None:
    writer: UsageWriter | None = portal.services.pop("usage_writer", None)
    if writer is not None:
        await writer.close()

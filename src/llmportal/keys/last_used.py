"""lastUsedAt without a write per request: marks in memory, flushed once a minute in one batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.db import transaction, utcnow
from llmportal.keys.models import ApiKey

log = logging.getLogger("llmportal.keys")


class LastUsedTracker:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], interval_s: float = 60.0
    ) -> None:
        self._sessionmaker = sessionmaker
        self._interval_s = interval_s
        self._marks: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, key_id: str) -> None:
        self._marks[key_id] = utcnow()

    def pending(self, key_id: str) -> datetime | None:
        """A use this instance has seen but not written yet (shown in lists right away)."""
        return self._marks.get(key_id)

    async def flush(self) -> None:
        marks, self._marks = self._marks, {}
        if not marks:
            return
        try:
            async with transaction(self._sessionmaker) as db:
                for key_id, used_at in marks.items():
                    await db.execute(
                        update(ApiKey)
                        .where(
                            ApiKey.id == key_id,
                            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < used_at),
                        )
                        .values(last_used_at=used_at, updated_at=ApiKey.updated_at)
                        # Not a change authentication reads: key caches stay.
                        .execution_options(synchronize_session=False, auth_unchanged=True)
                    )
        except Exception:
            log.warning("could not record API key last use; retrying later", exc_info=True)
            for key_id, used_at in marks.items():
                self._marks.setdefault(key_id, used_at)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="api-key-last-used")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

"""The batched usage writer: records land in the database in batches, with their rollup, and
none is lost on flush or shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import utcnow
from llmportal.portal import Portal
from llmportal.usage import writer as writer_module
from llmportal.usage.models import UsageRecord
from llmportal.usage.writer import UsageWriter


def record(user_id: str, **kw: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "created_at": utcnow(),
        "user_id": user_id,
        "model": "m",
        "provider": "p",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "status": "success",
        "http_status": 200,
        "latency_ms": 5,
        "stream": False,
    }
    values.update(kw)
    return UsageRecord(**values)


async def count(portal: Portal) -> int:
    async with portal.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(UsageRecord))).scalar_one())


@pytest.fixture
def rollups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches handed to the rollup."""
    sizes: list[int] = []

    async def fake_rollup(db: AsyncSession, records: Sequence[UsageRecord]) -> None:
        assert all(r.id for r in records)  # inserted (flushed) in this transaction
        sizes.append(len(records))

    monkeypatch.setattr(writer_module, "add_to_rollup", fake_rollup)
    return sizes


async def test_flush_writes_everything_added_in_batches(
    portal: Portal, make_user: Any, rollups: list[int]
) -> None:
    user = await make_user()
    writer = UsageWriter(portal.sessionmaker, interval_s=60, batch_size=10)
    await writer.start()
    try:
        for i in range(25):
            writer.add(record(user.id, prompt_tokens=i))
        await writer.flush()
        assert await count(portal) == 25
        assert sum(rollups) == 25
        assert max(rollups) <= 10
    finally:
        await writer.close()


async def test_close_drains_the_queue(portal: Portal, make_user: Any, rollups: list[int]) -> None:
    user = await make_user()
    writer = UsageWriter(portal.sessionmaker, interval_s=60)
    await writer.start()
    for _ in range(3):
        writer.add(record(user.id))
    await writer.close()
    assert await count(portal) == 3


async def test_a_bad_record_costs_only_itself(
    portal: Portal, make_user: Any, rollups: list[int]
) -> None:
    user = await make_user()
    writer = UsageWriter(portal.sessionmaker, interval_s=60)
    await writer.start()
    try:
        writer.add(record(user.id, model="good-1"))
        writer.add(record("no-such-user", model="orphan"))  # foreign key refused
        writer.add(record(user.id, model="good-2"))
        await writer.flush()
    finally:
        await writer.close()
    async with portal.sessionmaker() as db:
        models = (await db.execute(select(UsageRecord.model))).scalars().all()
    assert sorted(models) == ["good-1", "good-2"]


async def test_writer_writes_on_its_own_without_flush(
    portal: Portal, make_user: Any, rollups: list[int]
) -> None:
    user = await make_user()
    writer = UsageWriter(portal.sessionmaker, interval_s=0.05)
    await writer.start()
    try:
        writer.add(record(user.id))
        async with writer._progress:
            await writer._progress.wait_for(lambda: writer._done >= 1)
        assert await count(portal) == 1
    finally:
        await writer.close()


async def test_the_app_registers_a_running_writer(portal: Portal) -> None:
    assert isinstance(portal.services["usage_writer"], UsageWriter)
    assert portal.services["gateway"] is not None


class Outage:
    """A sessionmaker whose database is away (connection refused) while `down` is set."""

    def __init__(self, portal: Portal) -> None:
        self.sessionmaker = portal.sessionmaker
        self.down = True
        self.refused = 0

    def __call__(self) -> AsyncSession:
        if self.down:
            self.refused += 1
            raise ConnectionRefusedError(111, "Connect call failed")
        return self.sessionmaker()


async def test_records_wait_while_the_database_is_away(
    portal: Portal, make_user: Any, rollups: list[int]
) -> None:
    """A PostgreSQL restart must not cost the usage (and the bill) of the requests answered
    meanwhile: the records stay queued and are written once the database is back."""
    user = await make_user()
    outage = Outage(portal)
    writer = UsageWriter(outage, interval_s=0.02)
    await writer.start()
    try:
        for _ in range(5):
            writer.add(record(user.id))
        for _ in range(1000):  # the writer tries, and tries again
            if outage.refused >= 3:
                break
            await asyncio.sleep(0.01)
        assert await count(portal) == 0
        outage.down = False
        await asyncio.wait_for(writer.flush(), 10)
        assert await count(portal) == 5
        assert sum(rollups) == 5
    finally:
        await writer.close()

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.usage.models import UsageDaily
from llmportal.usage.rollup import add_to_rollup
from tests.usage.helpers import noon, record, today, write


async def rows(portal: Portal) -> list[UsageDaily]:
    async with transaction(portal.sessionmaker) as db:
        found = await db.scalars(
            select(UsageDaily).order_by(UsageDaily.day, UsageDaily.model, UsageDaily.status)
        )
        return list(found)


async def test_a_batch_is_folded_per_key_model_status_and_day(portal: Portal, user: Any) -> None:
    await write(
        portal,
        record(user, prompt_tokens=10, completion_tokens=5, input_cost_micros=7, latency_ms=100),
        record(user, prompt_tokens=1, completion_tokens=2, output_cost_micros=9, latency_ms=50),
        record(user, status="error", latency_ms=30),
        record(user, model="beta", api_key_id="key_1", image_cost_micros=40_000),
        record(user, created_at=noon(3), prompt_tokens=4),
    )
    found = await rows(portal)
    assert [(r.day, r.model, r.status, r.api_key_id) for r in found] == [
        (noon(3).date(), "alpha", "success", ""),
        (today(), "alpha", "error", ""),
        (today(), "alpha", "success", ""),
        (today(), "beta", "success", "key_1"),
    ]
    alpha = found[2]
    assert (alpha.requests, alpha.prompt_tokens, alpha.completion_tokens) == (2, 11, 7)
    assert (alpha.input_cost_micros, alpha.output_cost_micros, alpha.latency_ms_sum) == (7, 9, 150)
    assert found[3].image_cost_micros == 40_000


async def test_later_batches_add_to_existing_rows(portal: Portal, user: Any) -> None:
    await write(portal, record(user, prompt_tokens=10, input_cost_micros=1_000_000))
    await write(portal, record(user, prompt_tokens=5, input_cost_micros=2_500_000, latency_ms=9))
    (row,) = await rows(portal)
    assert (row.requests, row.prompt_tokens, row.input_cost_micros, row.latency_ms_sum) == (
        2,
        15,
        3_500_000,
        9,
    )


async def test_an_empty_batch_writes_nothing(portal: Portal) -> None:
    async with transaction(portal.sessionmaker) as db:
        await add_to_rollup(db, [])
    assert await rows(portal) == []


async def test_large_batches_are_split_into_several_statements(portal: Portal, user: Any) -> None:
    batch = [record(user, model=f"m{i}", prompt_tokens=1) for i in range(1200)]
    await write(portal, *batch)
    found = await rows(portal)
    assert len(found) == 1200
    assert sum(r.prompt_tokens for r in found) == 1200

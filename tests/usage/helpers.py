from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.usage.rollup import add_to_rollup


def today() -> date:
    return datetime.now(UTC).date()


def noon(days_ago: int) -> datetime:
    return datetime.combine(today() - timedelta(days=days_ago), time(12), tzinfo=UTC)


def record(user: Any, **kw: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "user_id": user.id,
        "model": "alpha",
        "status": "success",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "input_cost_micros": 0,
        "output_cost_micros": 0,
        "image_cost_micros": 0,
        "latency_ms": 0,
        "created_at": datetime.now(UTC),
    }
    values.update(kw)
    if values["status"] == "error":
        values.setdefault("http_status", 502)
    return UsageRecord(**values)


async def write(portal: Portal, *records: UsageRecord) -> None:
    """What the gateway's batched writer does: the records and their rollup, one transaction."""
    async with transaction(portal.sessionmaker) as db:
        db.add_all(records)
        await db.flush()
        await add_to_rollup(db, records)

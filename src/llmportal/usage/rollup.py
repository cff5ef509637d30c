"""Daily usage rollups, maintained by the batched usage writer in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.ids import new_id
from llmportal.usage.models import UsageDaily

RollupKey = tuple[str, str, str, str, date]
_SUMMED = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "input_cost_micros",
    "output_cost_micros",
    "image_cost_micros",
    "latency_ms_sum",
)
_CHUNK = 500  # rows per executemany call


def utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


def fold(records: Sequence[Any]) -> tuple[dict[RollupKey, dict[str, int]], dict[str, str]]:
    """Sum a batch per (user, key, model, status, UTC day); and the org of each org key."""
    totals: dict[RollupKey, dict[str, int]] = {}
    orgs: dict[str, str] = {}
    for r in records:
        created = r.created_at or datetime.now(UTC)
        key = (r.user_id, r.api_key_id or "", r.model, r.status, utc_day(created))
        if r.org_id and r.api_key_id:
            orgs[r.api_key_id] = r.org_id
        row = totals.setdefault(key, dict.fromkeys(_SUMMED, 0))
        row["requests"] += 1
        row["prompt_tokens"] += r.prompt_tokens or 0
        row["completion_tokens"] += r.completion_tokens or 0
        row["input_cost_micros"] += r.input_cost_micros or 0
        row["output_cost_micros"] += r.output_cost_micros or 0
        row["image_cost_micros"] += r.image_cost_micros or 0
        row["latency_ms_sum"] += r.latency_ms or 0
    return totals, orgs


async def add_to_rollup(db: AsyncSession, records: Sequence[Any]) -> None:
    """Fold a batch of new usage records into usage_daily (one upsert, same transaction). A
    record is a UsageRecord or anything with its attributes (the writer's plain rows)."""
    totals, orgs = fold(records)
    if not totals:
        return
    # Sorted so concurrent writers lock rows in the same order (no deadlocks on PostgreSQL).
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "user_id": user_id,
            "api_key_id": key_id,
            "org_id": orgs.get(key_id),
            "model": model,
            "status": status,
            "day": day,
            **sums,
        }
        for (user_id, key_id, model, status, day), sums in sorted(totals.items())
    ]
    stmt = _upsert(db.get_bind().dialect.name)
    for start in range(0, len(rows), _CHUNK):
        await db.execute(stmt, rows[start : start + _CHUNK])


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """One upsert statement per dialect, run as executemany: compiled once and cached, where a
    multi-row VALUES would be compiled anew for every batch."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, UsageDaily.__table__)
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=["user_id", "api_key_id", "model", "status", "day"],
        set_={name: table.c[name] + stmt.excluded[name] for name in _SUMMED},
    )

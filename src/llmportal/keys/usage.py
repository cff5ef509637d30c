"""A key's usage from usage_records: per-day series and totals (SQL aggregates, any backend)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import utcnow
from llmportal.keys.models import ApiKey
from llmportal.usage.models import UsageRecord as U

_TOKENS = U.prompt_tokens + U.completion_tokens
_COST = U.input_cost_micros + U.output_cost_micros + U.image_cost_micros


def _day(db: AsyncSession) -> ColumnElement[Any]:
    """The UTC calendar day of a record (a date on PostgreSQL, 'YYYY-MM-DD' on SQLite).

    Literal SQL, no bound parameters: the same expression must match in SELECT and GROUP BY.
    """
    if db.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), U.created_at))
    return func.date(U.created_at)


def _day_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _dollars(micros: Any) -> float:
    return round(int(micros or 0) / 1_000_000, 2)


def _aggregates() -> list[Any]:
    return [
        func.count().label("requests"),
        func.coalesce(func.sum(_TOKENS), 0).label("tokens"),
        func.coalesce(func.sum(U.prompt_tokens), 0).label("prompt"),
        func.coalesce(func.sum(U.completion_tokens), 0).label("completion"),
        func.coalesce(func.sum(_COST), 0).label("cost"),
        func.coalesce(func.sum(case((U.status == "error", 1), else_=0)), 0).label("errors"),
        func.coalesce(func.sum(U.latency_ms), 0).label("latency"),
    ]


async def _daily_rows(
    db: AsyncSession, key_id: str, since: datetime | None = None, limit: int | None = None
) -> list[Any]:
    day = _day(db)
    stmt = select(day.label("day"), *_aggregates()).where(U.api_key_id == key_id)
    if since is not None:
        stmt = stmt.where(U.created_at >= since)
    stmt = stmt.group_by(day).order_by(day.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await db.execute(stmt)).all())


def _avg_ms(latency_sum: Any, requests: int) -> int:
    return round(int(latency_sum or 0) / requests) if requests else 0


async def key_usage(db: AsyncSession, key: ApiKey, days: int) -> dict[str, Any]:
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    by_day = {_day_text(row.day): row for row in await _daily_rows(db, key.id, since)}
    daily = []
    for offset in range(days):
        d: date = first + timedelta(days=offset)
        row = by_day.get(d.isoformat())
        daily.append(
            {
                "date": d.isoformat(),
                "requests": int(row.requests) if row else 0,
                "tokens": int(row.tokens) if row else 0,
                "cost": _dollars(row.cost) if row else 0.0,
                "errors": int(row.errors) if row else 0,
            }
        )
    total_requests = sum(int(r.requests) for r in by_day.values())
    latency = sum(int(r.latency) for r in by_day.values())
    lifetime = await db.scalar(
        select(func.coalesce(func.sum(_TOKENS), 0)).where(U.api_key_id == key.id)
    )
    return {
        "apiKey": {"id": key.id, "name": key.name, "totalTokensUsed": int(lifetime or 0)},
        "dailyUsage": daily,
        "stats": {
            "totalRequests": total_requests,
            "totalTokens": sum(int(r.tokens) for r in by_day.values()),
            "avgResponseTime": _avg_ms(latency, total_requests),
        },
    }


async def key_request_history(db: AsyncSession, key: ApiKey, limit: int) -> list[dict[str, Any]]:
    """The most recent days with traffic, newest first, one aggregated entry per day."""
    rows = await _daily_rows(db, key.id, limit=limit)
    return [
        {
            "date": _day_text(r.day),
            "requests": int(r.requests),
            "tokens": int(r.tokens),
            "promptTokens": int(r.prompt),
            "completionTokens": int(r.completion),
            "cost": _dollars(r.cost),
            "errors": int(r.errors),
            "avgResponseTime": _avg_ms(r.latency, int(r.requests)),
        }
        for r in rows
    ]

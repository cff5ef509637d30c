"""An org's usage: every completion made with one of its keys records the org (usage_records
.org_id) and the member who created the key (user_id), so spend adds up per org, member and key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import utcnow
from llmportal.keys.models import ApiKey
from llmportal.usage.models import UsageRecord as U
from llmportal.users.models import User
from llmportal.users.schemas import iso

_TOKENS = U.prompt_tokens + U.completion_tokens
_COST = U.input_cost_micros + U.output_cost_micros + U.image_cost_micros


def _dollars(micros: Any) -> float:
    return round(int(micros or 0) / 1_000_000, 2)


def _sums() -> list[Any]:
    return [
        func.count().label("requests"),
        func.coalesce(func.sum(_TOKENS), 0).label("tokens"),
        func.coalesce(func.sum(_COST), 0).label("cost"),
        func.coalesce(func.sum(case((U.status == "error", 1), else_=0)), 0).label("errors"),
    ]


def _totals(row: Any) -> dict[str, Any]:
    return {
        "requests": int(row.requests or 0),
        "tokens": int(row.tokens or 0),
        "cost": _dollars(row.cost),
        "errors": int(row.errors or 0),
    }


def _since(days: int) -> datetime:
    """The start of the first of `days` whole UTC days ending today."""
    first = utcnow().date() - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def _by_cost(row: dict[str, Any]) -> tuple[float, int]:
    return -row["cost"], -row["tokens"]


async def org_usage(db: AsyncSession, org_id: str, days: int) -> dict[str, Any]:
    window = (U.org_id == org_id, U.created_at >= _since(days))
    total = (await db.execute(select(*_sums()).where(*window))).one()
    members = await db.execute(
        select(U.user_id, User.name, User.email, *_sums())
        .outerjoin(User, User.id == U.user_id)
        .where(*window)
        .group_by(U.user_id, User.name, User.email)
    )
    keys = await db.execute(
        select(U.api_key_id, ApiKey.name, *_sums())
        .outerjoin(ApiKey, ApiKey.id == U.api_key_id)
        .where(*window)
        .group_by(U.api_key_id, ApiKey.name)
    )
    by_member = [
        {"userId": r.user_id, "name": r.name, "email": r.email, **_totals(r)} for r in members
    ]
    by_key = [
        {"keyId": r.api_key_id, "name": r.name, **_totals(r)}
        for r in keys
        if r.api_key_id is not None
    ]
    return {
        "days": days,
        "totals": _totals(total),
        "byMember": sorted(by_member, key=_by_cost),
        "byKey": sorted(by_key, key=_by_cost),
    }


async def org_requests(
    db: AsyncSession,
    org_id: str,
    *,
    limit: int,
    offset: int,
    key_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The org's completions, newest first, one entry per request."""
    where = [U.org_id == org_id]
    if key_id is not None:
        where.append(U.api_key_id == key_id)
    if user_id is not None:
        where.append(U.user_id == user_id)
    total = await db.scalar(select(func.count()).select_from(U).where(*where))
    rows = await db.scalars(
        select(U)
        .where(*where)
        .order_by(U.created_at.desc(), U.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {
        "requests": [
            {
                "id": r.id,
                "createdAt": iso(r.created_at),
                "keyId": r.api_key_id,
                "userId": r.user_id,
                "model": r.model,
                "promptTokens": r.prompt_tokens,
                "completionTokens": r.completion_tokens,
                "totalTokens": r.total_tokens,
                "cost": _dollars(r.cost_micros),
                "latencyMs": r.latency_ms,
                "status": r.status,
                "httpStatus": r.http_status,
            }
            for r in rows
        ],
        "total": int(total or 0),
        "limit": limit,
        "offset": offset,
    }

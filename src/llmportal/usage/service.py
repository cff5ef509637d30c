"""Usage queries: the summary and filter options, read from the daily rollups.

Periods are whole UTC days ending today (7d = today and the 6 days before it), except `24h`,
which is the rolling last 24 hours read from the raw usage records for precision; its
`dailyUsage` lists the (two) UTC days the window touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import Base
from llmportal.errors import PortalError, bad_request
from llmportal.usage.models import UsageDaily, UsageRecord
from llmportal.usage.schemas import Bucket, build_summary

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
PERIODS = ("24h", *PERIOD_DAYS)
STATUSES = ("success", "error")
MAX_RANGE_DAYS = 366


@dataclass(frozen=True, slots=True)
class UsageQuery:
    user_id: str | None  # None: the whole portal (admin)
    first_day: date
    last_day: date
    since: datetime | None = None  # set for the rolling 24h window (raw records)
    until: datetime | None = None
    api_key_id: str | None = None
    model: str | None = None
    status: str | None = None
    org_id: str | None = None  # an org's keys, every member's use of them

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def _parse_day(name: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"{name}: must be a date as YYYY-MM-DD") from exc


def parse_query(
    user_id: str | None,
    *,
    period: str | None,
    from_: str | None,
    to: str | None,
    api_key_id: str | None,
    model: str | None,
    status: str | None,
    org_id: str | None = None,
    now: datetime | None = None,
) -> UsageQuery:
    """Validate the query parameters; from/to, when given, take precedence over period."""
    now = now or datetime.now(UTC)
    today = now.date()
    if status is not None and status not in STATUSES:
        raise bad_request("status: must be one of success, error")
    if period is not None and period not in PERIODS:
        raise bad_request(f"period: must be one of {', '.join(PERIODS)}")
    if api_key_id is not None and not api_key_id.strip():
        raise bad_request("apiKeyId: must not be empty")
    if model is not None and not model.strip():
        raise bad_request("model: must not be empty")
    if org_id is not None and not org_id.strip():
        raise bad_request("orgId: must not be empty")
    filters: dict[str, Any] = {
        "api_key_id": api_key_id,
        "model": model,
        "status": status,
        "org_id": org_id,
    }
    if from_ is not None or to is not None:
        if from_ is None:
            raise bad_request("from is required with to")
        first = _parse_day("from", from_)
        last = _parse_day("to", to) if to is not None else today
        if last < first:
            raise bad_request("to: must not be before from")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise bad_request(f"to: the range may span at most {MAX_RANGE_DAYS} days")
        return UsageQuery(user_id, first, last, **filters)
    period = period or "30d"
    if period == "24h":
        since = now - timedelta(hours=24)
        return UsageQuery(user_id, since.date(), today, since=since, until=now, **filters)
    days = PERIOD_DAYS[period]
    return UsageQuery(user_id, today - timedelta(days=days - 1), today, **filters)


def _api_keys_table() -> Any:
    """The keys domain's table once it is part of the schema (merged), else None."""
    table = Base.metadata.tables.get("api_keys")
    if table is None or "user_id" not in table.c:
        return None
    return table


async def key_belongs_to(db: AsyncSession, owner: str, owner_id: str, key_id: str) -> bool:
    """Whether the key is the owner's: `owner` "user_id" (a user's keys) or "org_id" (an org's)."""
    table = _api_keys_table()
    if table is not None and owner in table.c:
        found = await db.scalar(
            select(table.c.id).where(table.c.id == key_id, table.c[owner] == owner_id)
        )
        if found is not None:
            return True
    # A deleted key (or, before the keys domain exists, any key) is the owner's if their usage
    # names it.
    used = await db.scalar(
        select(UsageDaily.id)
        .where(getattr(UsageDaily, owner) == owner_id, UsageDaily.api_key_id == key_id)
        .limit(1)
    )
    return used is not None


def _filtered(stmt: Any, table: Any, q: UsageQuery) -> Any:
    """The query's filters on usage_daily or usage_records (the same column names)."""
    for name in ("user_id", "org_id", "api_key_id", "model", "status"):
        value = getattr(q, name)
        if value is not None:
            stmt = stmt.where(getattr(table, name) == value)
    return stmt


def _rollup_select(q: UsageQuery) -> Any:
    t = UsageDaily
    stmt = select(
        t.day,
        t.model,
        t.status,
        func.sum(t.requests),
        func.sum(t.prompt_tokens),
        func.sum(t.completion_tokens),
        func.sum(t.input_cost_micros),
        func.sum(t.output_cost_micros),
        func.sum(t.image_cost_micros),
        func.sum(t.latency_ms_sum),
    ).where(t.day >= q.first_day, t.day <= q.last_day)
    stmt = _filtered(stmt, t, q)
    return stmt.group_by(t.day, t.model, t.status)


def _raw_select(q: UsageQuery) -> Any:
    assert q.since is not None and q.until is not None
    r = UsageRecord
    midnight = datetime.combine(q.last_day, time(), tzinfo=UTC)
    # 1 for records on the last day of the window, 0 for the day before.
    on_last_day: ColumnElement[int] = case((r.created_at >= midnight, 1), else_=0)
    stmt = select(
        on_last_day,
        r.model,
        r.status,
        func.count(),
        func.sum(r.prompt_tokens),
        func.sum(r.completion_tokens),
        func.sum(r.input_cost_micros),
        func.sum(r.output_cost_micros),
        func.sum(r.image_cost_micros),
        func.sum(r.latency_ms),
    ).where(r.created_at > q.since, r.created_at <= q.until)
    stmt = _filtered(stmt, r, q)
    return stmt.group_by(on_last_day, r.model, r.status)


async def load_buckets(db: AsyncSession, q: UsageQuery) -> list[Bucket]:
    raw = q.since is not None
    rows = (await db.execute(_raw_select(q) if raw else _rollup_select(q))).all()
    buckets = []
    for row in rows:
        day = (q.last_day if row[0] else q.first_day) if raw else row[0]
        if isinstance(day, str):  # SQLite hands a DATE back as text in some expressions
            day = date.fromisoformat(day)
        sums = [int(v or 0) for v in row[3:]]
        buckets.append(Bucket(day, row[1], row[2], *sums))
    return buckets


async def summary(db: AsyncSession, q: UsageQuery) -> dict[str, Any]:
    if q.api_key_id is not None:
        if q.org_id is not None:
            known = await key_belongs_to(db, "org_id", q.org_id, q.api_key_id)
        elif q.user_id is not None:
            known = await key_belongs_to(db, "user_id", q.user_id, q.api_key_id)
        else:
            known = True
        if not known:
            raise PortalError(404, "API key not found")
    return build_summary(await load_buckets(db, q), q.days)


async def filter_options(
    db: AsyncSession, user_id: str, org_id: str | None = None
) -> dict[str, Any]:
    """The keys and models the summary can be filtered by: the user's own, or an org's."""
    names: dict[str, str | None] = {}
    table = _api_keys_table()
    mine = UsageDaily.user_id == user_id if org_id is None else UsageDaily.org_id == org_id
    if table is not None:
        name_col = table.c.get("name")
        cols = [table.c.id, name_col] if name_col is not None else [table.c.id]
        owner = table.c.user_id == user_id if org_id is None else table.c.org_id == org_id
        for row in (await db.execute(select(*cols).where(owner))).all():
            names[row[0]] = row[1] if name_col is not None else None
    used_keys = await db.scalars(
        select(UsageDaily.api_key_id).where(mine, UsageDaily.api_key_id != "").distinct()
    )
    for key_id in used_keys:
        names.setdefault(key_id, None)
    models = await db.scalars(select(UsageDaily.model).where(mine).distinct())
    keys = sorted(names.items(), key=lambda kv: ((kv[1] or "").lower(), kv[0]))
    return {
        "keys": [{"id": key_id, "name": name} for key_id, name in keys],
        "models": sorted(models),
    }


async def tokens_used(
    db: AsyncSession,
    first_day: date,
    last_day: date,
    *,
    user_id: str | None = None,
    org_id: str | None = None,
) -> int:
    """Prompt + completion tokens over whole UTC days (from the rollups): an org's keys', or a
    user's personal use (not the org keys they created: those count toward the org's plan)."""
    if org_id is not None:
        owner = UsageDaily.org_id == org_id
    else:
        owner = (UsageDaily.user_id == user_id) & UsageDaily.org_id.is_(None)
    total = await db.scalar(
        select(func.sum(UsageDaily.prompt_tokens + UsageDaily.completion_tokens)).where(
            owner,
            UsageDaily.day >= first_day,
            UsageDaily.day <= last_day,
        )
    )
    return int(total or 0)


def month_bounds(today: date) -> tuple[date, date]:
    """The calendar month of `today`: its first day and the first day of the next month."""
    first = today.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


async def tokens_used_this_month(
    db: AsyncSession,
    *,
    user_id: str | None = None,
    org_id: str | None = None,
    now: datetime | None = None,
) -> int:
    today = (now or datetime.now(UTC)).date()
    first, nxt = month_bounds(today)
    return await tokens_used(db, first, nxt - timedelta(days=1), user_id=user_id, org_id=org_id)

"""Plans: synced from the configuration at start-up, listed with a feature matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.models import Plan
from llmportal.config import PlanConfig
from llmportal.ids import new_id

INTERVALS = ("month", "year")


async def sync_plans(db: AsyncSession, configured: Sequence[PlanConfig]) -> None:
    """Make the plans table match the configuration; ids stay stable across restarts."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    tiers = [p.tier for p in configured]
    for position, p in enumerate(configured):
        values: dict[str, Any] = {
            "name": p.name,
            "monthly_price": p.monthly_price,
            "yearly_price": p.yearly_price,
            "monthly_tokens": p.monthly_tokens,
            "api_keys": p.api_keys,
            "storage_bytes": p.storage_bytes,
            "support": p.support,
            "position": position,
            "active": True,
        }
        # Several instances may start at once: insert-if-absent, then update.
        await db.execute(
            insert(Plan)
            .values(id=new_id(), tier=p.tier, **values)
            .on_conflict_do_nothing(index_elements=["tier"])
        )
        await db.execute(update(Plan).where(Plan.tier == p.tier).values(**values))
    await db.execute(update(Plan).where(Plan.tier.not_in(tiers)).values(active=False))


async def active_plans(db: AsyncSession) -> list[Plan]:
    rows = await db.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.position))
    return list(rows)


async def plan_by_id(db: AsyncSession, plan_id: str) -> Plan | None:
    return await db.scalar(select(Plan).where(Plan.id == plan_id, Plan.active.is_(True)))


async def plan_by_tier(db: AsyncSession, tier: str) -> Plan | None:
    return await db.scalar(select(Plan).where(Plan.tier == tier))


def price_of(plan: Plan, interval: str) -> int | None:
    return plan.monthly_price if interval == "month" else plan.yearly_price


def thousands(n: int) -> str:
    return f"{n:,}"


def storage_label(n: int) -> str:
    if n == 0:
        return "Unlimited"
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def tokens_label(plan: Plan) -> str:
    return thousands(plan.monthly_tokens) if plan.monthly_tokens else "Unlimited"


def plan_out(plan: Plan) -> dict[str, Any]:
    features: dict[str, Any] = {
        "tokens": f"{tokens_label(plan)}/mo" if plan.monthly_tokens else "Unlimited",
        "apiKeys": plan.api_keys,
        "storage": storage_label(plan.storage_bytes),
    }
    if plan.support:
        features["support"] = plan.support
    body: dict[str, Any] = {
        "id": plan.id,
        "name": plan.name,
        "tier": plan.tier,
        "monthlyPrice": plan.monthly_price,
    }
    if plan.yearly_price is not None:
        body["yearlyPrice"] = plan.yearly_price
    body["features"] = features
    return body


def feature_matrix(plans: Sequence[Plan]) -> list[dict[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("Monthly Tokens", tokens_label),
        ("API Keys", lambda p: thousands(p.api_keys)),
        ("Storage", lambda p: storage_label(p.storage_bytes)),
        ("Support", lambda p: p.support or "Standard"),
    ]
    return [{"name": name, "values": {p.tier: label(p) for p in plans}} for name, label in rows]

"""The local mirror of Stripe customers, subscriptions and invoices, and the account's tier
(users.plan_tier or organizations.plan_tier)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.accounts import Account, contact_email, customer_id_of, customer_table
from llmportal.billing.gateway import Billing
from llmportal.billing.models import Invoice, Subscription
from llmportal.billing.plans import plan_by_tier

log = logging.getLogger("llmportal.billing")

FREE_TIER = "FREE"
# Statuses in which the subscriber keeps the paid tier (past_due: while Stripe retries payment).
ENTITLED = ("ACTIVE", "TRIALING", "PAST_DUE")
ENDED = ("CANCELED", "INCOMPLETE_EXPIRED", "UNPAID")


def from_unix(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


async def ensure_customer(db: AsyncSession, billing: Billing, account: Account) -> str:
    existing = await customer_id_of(db, account)
    if existing:
        return existing
    stripe = billing.require_stripe()
    created = await stripe.create_customer(
        metadata=account.metadata(), email=await contact_email(db, account), name=account.name
    )
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    key = "org_id" if account.is_org else "user_id"
    await db.execute(
        insert(customer_table(account))
        .values({key: account.id, "stripe_customer_id": created})
        .on_conflict_do_nothing(index_elements=[key])
    )
    # A concurrent request may have won the race: use whichever customer was stored.
    return await customer_id_of(db, account) or created


async def live_subscription(db: AsyncSession, account: Account) -> Subscription | None:
    """The account's subscription that still grants (or may grant) a paid tier."""
    return await db.scalar(
        select(Subscription)
        .where(account.owns(Subscription), Subscription.status.not_in(ENDED))
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )


def _first_item(sub: dict[str, Any]) -> dict[str, Any]:
    items = (sub.get("items") or {}).get("data") or []
    return items[0] if items else {}


def item_id(sub: dict[str, Any]) -> str | None:
    return _first_item(sub).get("id")


def _price_of(sub: dict[str, Any]) -> dict[str, Any] | None:
    item = _first_item(sub)
    price = item.get("price") or item.get("plan") or sub.get("plan")
    return price if isinstance(price, dict) else None


def _period(sub: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    # Newer API versions carry the period on the item, older ones on the subscription.
    item = _first_item(sub)
    start = sub.get("current_period_start") or item.get("current_period_start")
    end = sub.get("current_period_end") or item.get("current_period_end")
    return from_unix(start), from_unix(end)


async def apply_subscription(
    db: AsyncSession,
    billing: Billing,
    account: Account,
    data: dict[str, Any],
    *,
    event_at: int = 0,
    status: str | None = None,
) -> Subscription | None:
    """Mirror a Stripe subscription object and derive the account's tier from it.

    `event_at` is when Stripe's state was read (a webhook event's `created`, or now for an API
    response): anything older that arrives later is ignored.
    """
    sid = str(data["id"])
    sub = await db.scalar(select(Subscription).where(Subscription.stripe_subscription_id == sid))
    if sub is not None and event_at and sub.stripe_event_at > event_at:
        return sub  # an older event delivered late
    tier_interval = billing.tier_of(_price_of(data))
    if tier_interval is None and sub is None:
        log.warning("subscription %s has no llmportal price; ignored", sid)
        return None
    plan = await plan_by_tier(db, tier_interval[0]) if tier_interval else None
    if sub is None:
        sub = Subscription(**account.owner(), stripe_subscription_id=sid, tier=FREE_TIER)
        db.add(sub)
    if tier_interval is not None:
        sub.tier, sub.interval = tier_interval
        sub.plan_id = plan.id if plan else None
    sub.status = (status or str(data.get("status") or "incomplete")).upper()
    sub.current_period_start, sub.current_period_end = _period(data)
    sub.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
    sub.canceled_at = from_unix(data.get("canceled_at") or data.get("ended_at"))
    sub.stripe_event_at = max(sub.stripe_event_at or 0, event_at)
    await db.flush()
    await refresh_tier(db, account)
    return sub


async def refresh_tier(db: AsyncSession, account: Account) -> None:
    """The account's tier follows its entitling subscription; with none left, Free. Only the
    account's own subscriptions count: an org's never touch its owner's tier, nor the reverse.

    An account that never had a Stripe subscription keeps the tier an admin gave it.
    """
    subs = list(
        await db.scalars(
            select(Subscription)
            .where(account.owns(Subscription))
            .order_by(Subscription.created_at.desc())
        )
    )
    if not subs:
        return
    entitled = next((s for s in subs if s.status in ENTITLED), None)
    tier = account.plan_tier
    if entitled is not None:
        tier = entitled.tier
    elif all(s.status in ENDED for s in subs):
        tier = FREE_TIER
    if tier != account.plan_tier:  # an unchanged org row is not rewritten (the key cache)
        account.plan_tier = tier
    await db.flush()


async def upsert_invoice(
    db: AsyncSession, account: Account, data: dict[str, Any]
) -> Invoice | None:
    sid = data.get("id")
    if not sid or str(sid).startswith("upcoming"):
        return None
    inv = await db.scalar(select(Invoice).where(Invoice.stripe_invoice_id == sid))
    if inv is None:
        inv = Invoice(
            **account.owner(),
            stripe_invoice_id=sid,
            created_at=from_unix(data.get("created")) or datetime.now(UTC),
        )
        db.add(inv)
    parent = (data.get("parent") or {}).get("subscription_details") or {}
    sub_id = data.get("subscription") or parent.get("subscription")
    inv.stripe_subscription_id = sub_id if isinstance(sub_id, str) else None
    inv.number = data.get("number")
    inv.status = str(data.get("status") or "draft")
    inv.amount_due = int(data.get("amount_due") or data.get("total") or 0)
    inv.amount_paid = int(data.get("amount_paid") or 0)
    inv.currency = str(data.get("currency") or "usd")
    inv.period_start = from_unix(data.get("period_start"))
    inv.period_end = from_unix(data.get("period_end"))
    inv.hosted_invoice_url = data.get("hosted_invoice_url")
    inv.invoice_pdf = data.get("invoice_pdf")
    await db.flush()
    return inv


async def sync_invoices(
    db: AsyncSession, billing: Billing, account: Account, customer_id: str
) -> None:
    stripe = billing.require_stripe()
    for data in await stripe.list_invoices(customer_id):
        await upsert_invoice(db, account, data)

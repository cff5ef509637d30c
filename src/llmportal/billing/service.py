"""Billing rules: overview, plan changes (with preview), cancellation, invoices; the same for a
user's account and an organization's (billing/accounts.py)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing import payment_methods
from llmportal.billing.accounts import Account
from llmportal.billing.gateway import Billing
from llmportal.billing.models import Invoice, Plan, Subscription
from llmportal.billing.plans import (
    INTERVALS,
    active_plans,
    feature_matrix,
    plan_by_id,
    plan_by_tier,
    plan_out,
    price_of,
)
from llmportal.billing.subscriptions import (
    apply_subscription,
    ensure_customer,
    item_id,
    live_subscription,
    sync_invoices,
)
from llmportal.errors import PortalError, bad_request
from llmportal.usage.service import month_bounds, tokens_used_this_month
from llmportal.users.models import User

log = logging.getLogger("llmportal.billing")


def day(dt: datetime | date | None) -> str | None:
    return dt.strftime("%Y-%m-%d") if dt else None


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


async def list_plans(db: AsyncSession, user: User) -> dict[str, Any]:
    plans = await active_plans(db)
    current = next((p.id for p in plans if p.tier == user.plan_tier), None)
    return {
        "plans": [plan_out(p) for p in plans],
        "currentPlanId": current,
        "features": feature_matrix(plans),
    }


def subscription_out(
    sub: Subscription | None, account: Account, plan: Plan | None
) -> dict[str, Any]:
    """A Stripe subscription, or for an account without one, its tier over the calendar month."""
    name = plan.name if plan else account.plan_tier.title()
    if sub is None:
        start, end = month_bounds(datetime.now(UTC).date())
        return {
            "id": None,
            "status": "ACTIVE",
            "plan": {"name": name, "tier": account.plan_tier},
            "interval": None,
            "currentPeriod": {"start": day(start), "end": day(end)},
            "cancelAtPeriodEnd": False,
        }
    return {
        "id": sub.id,
        "status": sub.status,
        "plan": {"name": plan.name if plan else sub.tier.title(), "tier": sub.tier},
        "interval": sub.interval,
        "currentPeriod": {
            "start": day(sub.current_period_start),
            "end": day(sub.current_period_end),
        },
        "cancelAtPeriodEnd": sub.cancel_at_period_end,
    }


async def current_subscription_out(db: AsyncSession, account: Account) -> dict[str, Any]:
    sub = await live_subscription(db, account)
    plan = await plan_by_tier(db, sub.tier if sub else account.plan_tier)
    return subscription_out(sub, account, plan)


def invoice_out(inv: Invoice) -> dict[str, Any]:
    return {
        "id": inv.stripe_invoice_id,
        "number": inv.number,
        "status": inv.status,
        "amountDue": inv.amount_due,
        "amountPaid": inv.amount_paid,
        "currency": inv.currency,
        "periodStart": day(inv.period_start),
        "periodEnd": day(inv.period_end),
        "hostedInvoiceUrl": inv.hosted_invoice_url,
        "invoicePdf": inv.invoice_pdf,
        "createdAt": iso(inv.created_at),
    }


async def list_invoices(
    db: AsyncSession, account: Account, limit: int, offset: int
) -> dict[str, Any]:
    total = await db.scalar(select(func.count()).where(account.owns(Invoice)))
    rows = await db.scalars(
        select(Invoice)
        .where(account.owns(Invoice))
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {
        "invoices": [invoice_out(i) for i in rows],
        "total": int(total or 0),
        "limit": limit,
        "offset": offset,
    }


async def overview(db: AsyncSession, billing: Billing, account: Account) -> dict[str, Any]:
    """The subscription, this month's tokens against the plan's allowance (a user's personal
    use; an org's: all of its keys), payment methods and the latest invoices."""
    plan = await plan_by_tier(db, account.plan_tier)
    if account.is_org:
        used = await tokens_used_this_month(db, org_id=account.id)
    else:
        used = await tokens_used_this_month(db, user_id=account.id)
    limit = plan.monthly_tokens if plan and plan.monthly_tokens else None
    try:
        methods = await payment_methods.list_methods(db, billing, account)
    except PortalError as exc:  # Stripe unreachable: the rest of the overview still helps
        log.warning("payment methods unavailable for the overview: %s", exc.message)
        methods = []
    recent = await list_invoices(db, account, limit=5, offset=0)
    return {
        "subscription": await current_subscription_out(db, account),
        "usage": {
            "tokensUsed": used,
            "tokensLimit": limit,
            "percentUsed": round(used * 100 / limit, 1) if limit else None,
        },
        "paymentMethods": methods,
        "recentInvoices": recent["invoices"],
    }


async def _target(db: AsyncSession, plan_id: str | None, interval: str | None) -> tuple[Plan, str]:
    if not plan_id:
        raise bad_request("planId is required")
    interval = interval or "month"
    if interval not in INTERVALS:
        raise bad_request("interval: must be month or year")
    plan = await plan_by_id(db, plan_id)
    if plan is None:
        raise PortalError(404, "Plan not found")
    if plan.is_paid and not price_of(plan, interval):
        raise bad_request(f"interval: the {plan.name} plan has no {interval}ly price")
    return plan, interval


def _same_plan(account: Account, sub: Subscription | None, plan: Plan, interval: str) -> bool:
    if plan.tier != account.plan_tier:
        return False
    return sub is None or not plan.is_paid or sub.interval == interval


def _plan_ref(plan: Plan | None, tier: str, interval: str | None) -> dict[str, Any]:
    return {
        "id": plan.id if plan else None,
        "name": plan.name if plan else tier.title(),
        "tier": tier,
        "interval": interval,
    }


def _already(account: Account) -> PortalError:
    return bad_request(
        account.says(
            "planId: you are already on this plan",
            "planId: the organization is already on this plan",
        )
    )


async def preview_change(
    db: AsyncSession, billing: Billing, account: Account, plan_id: str | None, interval: str | None
) -> dict[str, Any]:
    plan, interval = await _target(db, plan_id, interval)
    sub = await live_subscription(db, account)
    if _same_plan(account, sub, plan, interval) and not (sub and sub.cancel_at_period_end):
        raise _already(account)
    current_plan = await plan_by_tier(db, account.plan_tier)
    current_ref = _plan_ref(current_plan, account.plan_tier, sub.interval if sub else None)
    body: dict[str, Any] = {
        "currentPlan": current_ref,
        "newPlan": _plan_ref(plan, plan.tier, interval if plan.is_paid else None),
        "currency": "usd",
    }
    if not plan.is_paid:
        # Moving to a free plan cancels at the end of the paid period: nothing is charged.
        effective = sub.current_period_end if sub else datetime.now(UTC)
        return {
            **body,
            "amountDue": 0,
            "prorationAmount": 0,
            "effectiveDate": day(effective),
            "lines": [],
        }
    stripe = billing.require_stripe()
    price = await billing.price_for(plan, interval)
    assert price is not None
    customer = await ensure_customer(db, billing, account)
    if sub is not None:
        remote = await stripe.retrieve_subscription(sub.stripe_subscription_id)
        invoice = await stripe.preview_invoice(
            customer_id=customer,
            price=price,
            subscription_id=sub.stripe_subscription_id,
            item_id=item_id(remote),
            proration_date=int(time.time()),
        )
    else:
        invoice = await stripe.preview_invoice(customer_id=customer, price=price)
    lines = [_line_out(li) for li in (invoice.get("lines") or {}).get("data") or []]
    return {
        **body,
        "amountDue": int(invoice.get("amount_due") or invoice.get("total") or 0),
        "prorationAmount": sum(li["amount"] for li in lines if li["proration"]),
        "currency": invoice.get("currency") or "usd",
        "effectiveDate": day(datetime.now(UTC)),
        "lines": lines,
    }


def _line_out(line: dict[str, Any]) -> dict[str, Any]:
    parent = (line.get("parent") or {}).get("subscription_item_details") or {}
    proration = bool(line.get("proration") or parent.get("proration"))
    return {
        "description": line.get("description"),
        "amount": int(line.get("amount") or 0),
        "proration": proration,
    }


async def change_plan(
    db: AsyncSession, billing: Billing, account: Account, plan_id: str | None, interval: str | None
) -> dict[str, Any]:
    plan, interval = await _target(db, plan_id, interval)
    sub = await live_subscription(db, account)
    same = _same_plan(account, sub, plan, interval)
    if same and not (sub and sub.cancel_at_period_end):
        raise _already(account)
    if not plan.is_paid:
        if sub is None:  # a tier given without Stripe (e.g. `llmportal user set-plan`)
            account.plan_tier = plan.tier
            await db.flush()
        elif not sub.cancel_at_period_end:
            await _set_cancel(db, billing, account, sub, True)
        return {"subscription": await current_subscription_out(db, account)}

    stripe = billing.require_stripe()
    price = await billing.price_for(plan, interval)
    assert price is not None
    customer = await ensure_customer(db, billing, account)
    await payment_methods.ensure_default(db, billing, account, customer)
    meta = {**account.metadata(), "tier": plan.tier}
    if sub is not None and same:
        remote = await stripe.set_cancel_at_period_end(sub.stripe_subscription_id, False)
    elif sub is not None:
        current = await stripe.retrieve_subscription(sub.stripe_subscription_id)
        current_item = item_id(current)
        if current_item is None:
            raise PortalError(502, "The payment provider returned a subscription without items")
        remote = await stripe.change_subscription_price(
            sub.stripe_subscription_id, item_id=current_item, price=price, metadata=meta
        )
    else:
        remote = await stripe.create_subscription(customer_id=customer, price=price, metadata=meta)
    await apply_subscription(db, billing, account, remote, event_at=int(time.time()))
    await sync_invoices(db, billing, account, customer)
    return {"subscription": await current_subscription_out(db, account)}


async def _set_cancel(
    db: AsyncSession, billing: Billing, account: Account, sub: Subscription, cancel: bool
) -> None:
    stripe = billing.require_stripe()
    remote = await stripe.set_cancel_at_period_end(sub.stripe_subscription_id, cancel)
    await apply_subscription(db, billing, account, remote, event_at=int(time.time()))


async def cancel(db: AsyncSession, billing: Billing, account: Account) -> dict[str, Any]:
    sub = await live_subscription(db, account)
    if sub is None:
        raise bad_request(
            account.says(
                "You have no paid subscription to cancel",
                "The organization has no paid subscription to cancel",
            )
        )
    if not sub.cancel_at_period_end:
        await _set_cancel(db, billing, account, sub, True)
    return {"subscription": await current_subscription_out(db, account)}

"""Stripe webhooks: verified, stored by event id (a redelivery is a no-op), then applied."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.accounts import Account, account_of_customer, account_of_metadata
from llmportal.billing.gateway import NOT_CONFIGURED, Billing
from llmportal.billing.models import StripeEvent, Subscription
from llmportal.billing.subscriptions import apply_subscription, refresh_tier, upsert_invoice
from llmportal.errors import PortalError, bad_request

log = logging.getLogger("llmportal.billing")

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_PAID = ("invoice.paid", "invoice.payment_succeeded")
INVOICE_EVENTS = (*INVOICE_PAID, "invoice.payment_failed", "invoice.finalized", "invoice.voided")


def verify(billing: Billing, payload: bytes, signature: str | None) -> dict[str, Any]:
    if not billing.webhook_secret:
        raise PortalError(503, NOT_CONFIGURED)
    from llmportal.billing.stripe_client import SignatureError, construct_event

    try:
        event = construct_event(payload, signature, billing.webhook_secret)
    except SignatureError as exc:
        raise bad_request("Invalid Stripe signature") from exc
    except ValueError as exc:
        raise bad_request("Invalid webhook payload") from exc
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise bad_request("Invalid webhook payload")
    return event


async def _record(db: AsyncSession, event: dict[str, Any]) -> bool:
    """Store the event id; False when it was already stored (a redelivery)."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = await db.execute(
        insert(StripeEvent)
        .values(id=event["id"], type=event["type"][:100])
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return bool(getattr(result, "rowcount", 0))


async def _account_for(db: AsyncSession, obj: dict[str, Any]) -> Account | None:
    """The user or org whose Stripe customer the object names, else the one its metadata names."""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    account = await account_of_customer(db, customer) if isinstance(customer, str) else None
    if account is None:
        account = await account_of_metadata(db, obj.get("metadata") or {})
    return account


async def handle(db: AsyncSession, billing: Billing, event: dict[str, Any]) -> bool:
    """Apply an event once; returns False for a redelivery that was ignored."""
    if not await _record(db, event):
        return False
    kind = event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    if kind not in SUBSCRIPTION_EVENTS and kind not in INVOICE_EVENTS:
        return True
    account = await _account_for(db, obj)
    if account is None:
        log.info("stripe event %s (%s) for an unknown customer; ignored", event["id"], kind)
        return True
    created = int(event.get("created") or 0)
    if kind in SUBSCRIPTION_EVENTS:
        status = "CANCELED" if kind.endswith(".deleted") else None
        await apply_subscription(db, billing, account, obj, event_at=created, status=status)
    else:
        await _apply_invoice(db, account, kind, obj)
    return True


async def _apply_invoice(
    db: AsyncSession, account: Account, kind: str, obj: dict[str, Any]
) -> None:
    invoice = await upsert_invoice(db, account, obj)
    if invoice is None or invoice.stripe_subscription_id is None:
        return
    sub = await db.scalar(
        select(Subscription).where(
            Subscription.stripe_subscription_id == invoice.stripe_subscription_id
        )
    )
    if sub is None or sub.status in ("CANCELED", "INCOMPLETE_EXPIRED"):
        return
    if kind in INVOICE_PAID and sub.status in ("PAST_DUE", "INCOMPLETE", "UNPAID"):
        sub.status = "ACTIVE"
    elif kind == "invoice.payment_failed" and sub.status == "ACTIVE":
        sub.status = "PAST_DUE"
    await db.flush()
    await refresh_tier(db, account)

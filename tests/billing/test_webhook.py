"""The Stripe webhook: signature checks, idempotent redelivery, subscription and invoice events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from llmportal.billing.models import StripeEvent, Subscription
from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.billing.conftest import WEBHOOK_SECRET
from tests.billing.test_subscriptions import subscribe
from tests.fixtures.localstripe import SECRET_KEY

HOOK = "/api/billing/webhook"


def signature(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(event_id: str, kind: str, obj: dict[str, Any], created: int | None = None) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


async def deliver(c: httpx.AsyncClient, payload: bytes, **sign: Any) -> httpx.Response:
    headers = {"Stripe-Signature": signature(payload, **sign), "Content-Type": "application/json"}
    return await c.post(HOOK, content=payload, headers=headers)


def subscription_object(user: Any, **extra: Any) -> dict[str, Any]:
    """A subscription as recent Stripe API versions send it (the period on the item)."""
    now = int(time.time())
    obj = {
        "id": f"sub_test_{user.id[-8:]}",
        "object": "subscription",
        "customer": "cus_not_stored_here",
        "status": "active",
        "cancel_at_period_end": False,
        "metadata": {"user_id": user.id},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_test",
                    "price": {
                        "id": "price_from_dashboard",
                        "recurring": {"interval": "year"},
                        "metadata": {"tier": "PRO"},
                    },
                    "current_period_start": now,
                    "current_period_end": now + 365 * 86400,
                }
            ],
        },
    }
    obj.update(extra)
    return obj


async def plan_of(portal: Portal, user: Any) -> str:
    async with transaction(portal.sessionmaker) as db:
        fresh = await db.get(User, user.id)
        assert fresh is not None
        return fresh.plan_tier


async def test_a_canceled_subscription_returns_the_user_to_free_once(
    stripe_client: httpx.AsyncClient, stripe_user: Any, stripe_portal: Portal, stripe_url: str
) -> None:
    await subscribe(stripe_client)
    async with transaction(stripe_portal.sessionmaker) as db:
        sub_id = await db.scalar(
            select(Subscription.stripe_subscription_id).where(
                Subscription.user_id == stripe_user.id
            )
        )
    async with httpx.AsyncClient(base_url=stripe_url, auth=(SECRET_KEY, "")) as emulator:
        canceled = (await emulator.delete(f"/v1/subscriptions/{sub_id}")).json()
    assert canceled["status"] == "canceled"

    payload = event("evt_deleted_1", "customer.subscription.deleted", canceled)
    r = await deliver(stripe_client, payload)
    assert (r.status_code, r.json()) == (200, {"received": True, "duplicate": False})
    assert await plan_of(stripe_portal, stripe_user) == "FREE"
    overview = (await stripe_client.get("/api/billing")).json()
    assert overview["subscription"]["id"] is None
    assert overview["subscription"]["plan"] == {"name": "Free", "tier": "FREE"}

    # An admin puts the user back on PRO; a redelivery of the old event must not undo that.
    async with transaction(stripe_portal.sessionmaker) as db:
        fresh = await db.get(User, stripe_user.id)
        assert fresh is not None
        fresh.plan_tier = "PRO"
    r = await deliver(stripe_client, payload)
    assert (r.status_code, r.json()) == (200, {"received": True, "duplicate": True})
    assert await plan_of(stripe_portal, stripe_user) == "PRO"
    async with transaction(stripe_portal.sessionmaker) as db:
        stored = list(await db.scalars(select(StripeEvent.id)))
    assert stored == ["evt_deleted_1"]


async def test_subscription_events_create_and_update_the_local_subscription(
    stripe_client: httpx.AsyncClient, stripe_user: Any, stripe_portal: Portal
) -> None:
    now = int(time.time())
    obj = subscription_object(stripe_user)
    r = await deliver(stripe_client, event("evt_c", "customer.subscription.created", obj, now))
    assert r.status_code == 200
    assert await plan_of(stripe_portal, stripe_user) == "PRO"
    sub = (await stripe_client.get("/api/billing")).json()["subscription"]
    assert (sub["status"], sub["interval"], sub["cancelAtPeriodEnd"]) == ("ACTIVE", "year", False)
    assert sub["plan"] == {"name": "Pro", "tier": "PRO"}
    assert sub["currentPeriod"]["start"] < sub["currentPeriod"]["end"]

    later = subscription_object(stripe_user, cancel_at_period_end=True)
    r = await deliver(
        stripe_client, event("evt_u2", "customer.subscription.updated", later, now + 20)
    )
    assert r.status_code == 200
    # Delivered late, an older update is ignored.
    older = subscription_object(stripe_user, status="past_due")
    r = await deliver(
        stripe_client, event("evt_u1", "customer.subscription.updated", older, now + 10)
    )
    assert (r.status_code, r.json()["duplicate"]) == (200, False)
    sub = (await stripe_client.get("/api/billing")).json()["subscription"]
    assert (sub["status"], sub["cancelAtPeriodEnd"]) == ("ACTIVE", True)


async def test_invoice_events_track_payment_state(
    stripe_client: httpx.AsyncClient, stripe_user: Any, stripe_portal: Portal
) -> None:
    obj = subscription_object(stripe_user)
    await deliver(stripe_client, event("evt_c", "customer.subscription.created", obj))
    invoice = {
        "id": "in_test_1",
        "object": "invoice",
        "customer": "cus_not_stored_here",
        "metadata": {},
        "parent": {"subscription_details": {"subscription": obj["id"], "metadata": {}}},
        "status": "open",
        "amount_due": 24900,
        "amount_paid": 0,
        "currency": "usd",
        "created": int(time.time()),
        "period_start": int(time.time()),
        "period_end": int(time.time()) + 86400,
        "hosted_invoice_url": "https://invoice.example/in_test_1",
        "number": "LLM-0001",
    }
    # Customer unknown and the invoice carries no user id: it is acknowledged, not applied.
    r = await deliver(stripe_client, event("evt_f", "invoice.payment_failed", invoice))
    assert r.status_code == 200
    assert (await stripe_client.get("/api/billing/invoices")).json()["total"] == 0

    invoice["metadata"] = {"user_id": stripe_user.id}
    r = await deliver(stripe_client, event("evt_f2", "invoice.payment_failed", invoice))
    assert r.status_code == 200
    overview = (await stripe_client.get("/api/billing")).json()
    assert overview["subscription"]["status"] == "PAST_DUE"
    assert await plan_of(stripe_portal, stripe_user) == "PRO"
    (listed,) = overview["recentInvoices"]
    assert (listed["id"], listed["status"], listed["amountDue"]) == ("in_test_1", "open", 24900)
    assert listed["hostedInvoiceUrl"] == "https://invoice.example/in_test_1"

    paid = {**invoice, "status": "paid", "amount_paid": 24900}
    r = await deliver(stripe_client, event("evt_p", "invoice.paid", paid))
    assert r.status_code == 200
    overview = (await stripe_client.get("/api/billing")).json()
    assert overview["subscription"]["status"] == "ACTIVE"
    assert [(i["status"], i["amountPaid"]) for i in overview["recentInvoices"]] == [("paid", 24900)]


async def test_other_events_are_acknowledged(stripe_client: httpx.AsyncClient) -> None:
    r = await deliver(stripe_client, event("evt_o", "customer.created", {"id": "cus_1"}))
    assert (r.status_code, r.json()) == (200, {"received": True, "duplicate": False})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": "SIGN_WRONG_SECRET"},
        {"Stripe-Signature": "SIGN_STALE"},
    ],
)
async def test_bad_signatures_are_400(
    stripe_client: httpx.AsyncClient, stripe_portal: Portal, headers: dict[str, str]
) -> None:
    payload = event("evt_x", "customer.subscription.deleted", {"id": "sub_x"})
    value = headers.get("Stripe-Signature")
    if value == "SIGN_WRONG_SECRET":
        headers = {"Stripe-Signature": signature(payload, secret="whsec_other")}
    elif value == "SIGN_STALE":
        headers = {"Stripe-Signature": signature(payload, at=int(time.time()) - 3600)}
    r = await stripe_client.post(HOOK, content=payload, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "Invalid Stripe signature"})
    async with transaction(stripe_portal.sessionmaker) as db:
        assert list(await db.scalars(select(StripeEvent.id))) == []


@pytest.mark.parametrize("payload", [b"not json", b'{"object": "event"}', b"[]"])
async def test_signed_garbage_is_400(stripe_client: httpx.AsyncClient, payload: bytes) -> None:
    r = await deliver(stripe_client, payload)
    assert (r.status_code, r.json()) == (400, {"error": "Invalid webhook payload"})


async def test_an_event_older_than_a_change_made_here_is_ignored(
    stripe_client: httpx.AsyncClient, stripe_user: Any, stripe_portal: Portal, stripe_url: str
) -> None:
    await subscribe(stripe_client)
    async with transaction(stripe_portal.sessionmaker) as db:
        sub_id = await db.scalar(
            select(Subscription.stripe_subscription_id).where(
                Subscription.user_id == stripe_user.id
            )
        )
    async with httpx.AsyncClient(base_url=stripe_url, auth=(SECRET_KEY, "")) as emulator:
        before_cancel = (await emulator.get(f"/v1/subscriptions/{sub_id}")).json()
    assert (await stripe_client.post("/api/billing/cancel")).status_code == 200
    stale = event(
        "evt_stale", "customer.subscription.updated", before_cancel, int(time.time()) - 60
    )
    assert (await deliver(stripe_client, stale)).status_code == 200
    sub = (await stripe_client.get("/api/billing")).json()["subscription"]
    assert sub["cancelAtPeriodEnd"] is True

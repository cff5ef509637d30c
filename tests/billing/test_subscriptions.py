"""Plan changes, previews and cancellation against the Stripe emulator (localstripe)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.billing.conftest import KeyIssuer

PLANS = "/api/billing/plans"
CHANGE = "/api/billing/change-plan"


async def plan_ids(c: httpx.AsyncClient) -> dict[str, str]:
    return {p["tier"]: p["id"] for p in (await c.get(PLANS)).json()["plans"]}


async def add_card(c: httpx.AsyncClient) -> None:
    r = await c.post("/api/billing/payment-methods", json={"paymentMethodId": "pm_card_visa"})
    assert r.status_code == 201, r.text


async def subscribe(c: httpx.AsyncClient, interval: str = "month") -> dict[str, Any]:
    await add_card(c)
    r = await c.post(CHANGE, json={"planId": (await plan_ids(c))["PRO"], "interval": interval})
    assert r.status_code == 200, r.text
    return dict(r.json()["subscription"])


async def test_subscribing_to_pro_charges_the_card_and_upgrades_the_user(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    ids = await plan_ids(stripe_client)
    preview = await stripe_client.get(f"{CHANGE}?planId={ids['PRO']}")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["currentPlan"] == {
        "id": ids["FREE"],
        "name": "Free",
        "tier": "FREE",
        "interval": None,
    }
    assert body["newPlan"] == {"id": ids["PRO"], "name": "Pro", "tier": "PRO", "interval": "month"}
    assert (body["amountDue"], body["prorationAmount"]) == (2900, 0)
    assert [(li["amount"], li["proration"]) for li in body["lines"]] == [(2900, False)]

    sub = await subscribe(stripe_client)
    today = datetime.now(UTC).date()
    assert sub["status"] == "ACTIVE"
    assert sub["plan"] == {"name": "Pro", "tier": "PRO"}
    assert sub["interval"] == "month"
    assert sub["cancelAtPeriodEnd"] is False
    assert sub["id"].startswith("c")
    assert sub["currentPeriod"]["start"] == today.isoformat()
    assert sub["currentPeriod"]["end"] > today.isoformat()

    assert (await stripe_client.get("/api/user/profile")).json()["plan"] == "PRO"
    assert (await stripe_client.get(PLANS)).json()["currentPlanId"] == ids["PRO"]
    overview = (await stripe_client.get("/api/billing")).json()
    assert overview["subscription"] == sub
    assert overview["usage"] == {"tokensUsed": 0, "tokensLimit": 50000, "percentUsed": 0.0}
    invoices = (await stripe_client.get("/api/billing/invoices")).json()
    assert invoices["total"] == 1
    (invoice,) = invoices["invoices"]
    assert (invoice["status"], invoice["amountDue"], invoice["amountPaid"]) == ("paid", 2900, 2900)
    assert invoice["id"].startswith("in_")
    assert overview["recentInvoices"] == invoices["invoices"]


async def test_a_paid_plan_needs_a_payment_method(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    ids = await plan_ids(stripe_client)
    r = await stripe_client.post(CHANGE, json={"planId": ids["PRO"]})
    assert (r.status_code, r.json()) == (
        402,
        {"error": "Add a payment method before choosing a paid plan"},
    )
    assert (await stripe_client.get("/api/user/profile")).json()["plan"] == "FREE"


async def test_switching_to_yearly_previews_and_charges_the_proration(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    await subscribe(stripe_client)
    ids = await plan_ids(stripe_client)
    again = await stripe_client.post(CHANGE, json={"planId": ids["PRO"], "interval": "month"})
    assert (again.status_code, again.json()) == (
        400,
        {"error": "planId: you are already on this plan"},
    )

    preview = (await stripe_client.get(f"{CHANGE}?planId={ids['PRO']}&interval=year")).json()
    assert preview["currentPlan"]["interval"] == "month"
    assert preview["newPlan"]["interval"] == "year"
    # The emulator credits the whole unused month (real Stripe prorates by the second).
    assert preview["prorationAmount"] == -2900
    assert preview["amountDue"] == 24900 - 2900
    assert sorted((li["amount"], li["proration"]) for li in preview["lines"]) == [
        (-2900, True),
        (24900, False),
    ]

    r = await stripe_client.post(CHANGE, json={"planId": ids["PRO"], "interval": "year"})
    assert r.status_code == 200, r.text
    assert r.json()["subscription"]["interval"] == "year"
    invoices = (await stripe_client.get("/api/billing/invoices")).json()["invoices"]
    assert sorted(i["amountPaid"] for i in invoices) == [2900, 22000]


async def test_cancel_keeps_pro_until_the_period_ends_and_can_be_undone(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    sub = await subscribe(stripe_client)
    r = await stripe_client.post("/api/billing/cancel")
    assert r.status_code == 200
    canceled = r.json()["subscription"]
    assert canceled == {**sub, "cancelAtPeriodEnd": True}
    assert (await stripe_client.get("/api/user/profile")).json()["plan"] == "PRO"
    # Cancelling twice is harmless.
    assert (await stripe_client.post("/api/billing/cancel")).json()["subscription"] == canceled

    ids = await plan_ids(stripe_client)
    r = await stripe_client.post(CHANGE, json={"planId": ids["PRO"]})
    assert r.status_code == 200
    assert r.json()["subscription"]["cancelAtPeriodEnd"] is False


async def test_choosing_free_cancels_at_period_end(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    sub = await subscribe(stripe_client)
    ids = await plan_ids(stripe_client)
    preview = (await stripe_client.get(f"{CHANGE}?planId={ids['FREE']}")).json()
    assert preview["amountDue"] == 0
    assert preview["effectiveDate"] == sub["currentPeriod"]["end"]
    r = await stripe_client.post(CHANGE, json={"planId": ids["FREE"]})
    assert r.status_code == 200
    assert r.json()["subscription"]["cancelAtPeriodEnd"] is True
    assert r.json()["subscription"]["plan"]["tier"] == "PRO"


@pytest.mark.parametrize("interval", ["week", "monthly"])
async def test_bad_interval_is_400(
    stripe_client: httpx.AsyncClient, stripe_user: Any, interval: str
) -> None:
    ids = await plan_ids(stripe_client)
    r = await stripe_client.post(CHANGE, json={"planId": ids["PRO"], "interval": interval})
    assert (r.status_code, r.json()) == (400, {"error": "interval: must be month or year"})


async def test_api_keys_cannot_change_the_plan_or_cancel(
    stripe_client: httpx.AsyncClient, stripe_user: Any, issue_stripe_key: KeyIssuer
) -> None:
    await subscribe(stripe_client)
    headers = (await issue_stripe_key(stripe_user)).headers
    ids = await plan_ids(stripe_client)
    preview = await stripe_client.get(f"{CHANGE}?planId={ids['FREE']}", headers=headers)
    assert preview.status_code == 200
    for r in (
        await stripe_client.post(CHANGE, json={"planId": ids["FREE"]}, headers=headers),
        await stripe_client.post("/api/billing/cancel", headers=headers),
    ):
        assert (r.status_code, r.json()) == (
            403,
            {"error": "This endpoint requires a browser session"},
        )
    overview = (await stripe_client.get("/api/billing", headers=headers)).json()
    assert overview["subscription"]["cancelAtPeriodEnd"] is False


async def test_one_users_subscription_is_not_anothers(
    stripe_client: httpx.AsyncClient,
    stripe_user: Any,
    stripe_other: httpx.AsyncClient,
    stripe_other_user: Any,
) -> None:
    await subscribe(stripe_client)
    r = await stripe_other.post("/api/billing/cancel")
    assert r.status_code == 400
    overview = (await stripe_other.get("/api/billing")).json()
    assert overview["subscription"]["id"] is None
    assert overview["paymentMethods"] == []
    assert (await stripe_other.get("/api/billing/invoices")).json()["total"] == 0

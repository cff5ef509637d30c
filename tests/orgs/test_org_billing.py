"""An org's plan, billed to its own Stripe customer (localstripe): members read, owners change;
webhooks for the org's customer move the org's tier, never its owner's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from llmportal.billing.models import BillingCustomer, OrgBillingCustomer, Subscription
from llmportal.db import transaction
from llmportal.orgs.models import Organization
from llmportal.portal import Portal
from llmportal.usage.models import UsageDaily, UsageRecord
from tests.billing.conftest import _plans, stripe_app, stripe_url  # noqa: F401 - fixtures
from tests.billing.test_subscriptions import subscribe
from tests.billing.test_webhook import deliver, event
from tests.fixtures.localstripe import SECRET_KEY
from tests.keys.helpers import bearer, create_key
from tests.orgs.conftest import People, Team

PLANS = "/api/billing/plans"


def billing(team: Team, tail: str = "") -> str:
    return f"/api/orgs/{team.org_id}/billing{tail}"


@pytest.fixture
async def people(stripe_app: FastAPI) -> AsyncIterator[People]:  # noqa: F811
    found = People(stripe_app)
    yield found
    await found.close()


@pytest.fixture
async def team(people: People) -> Team:
    return await people.team()


def portal_of(people: People) -> Portal:
    portal: Portal = people.app.state.portal
    return portal


async def plan_ids(c: httpx.AsyncClient) -> dict[str, str]:
    return {p["tier"]: p["id"] for p in (await c.get(PLANS)).json()["plans"]}


async def org_tier(portal: Portal, org_id: str) -> str:
    async with transaction(portal.sessionmaker) as db:
        org = await db.get(Organization, org_id)
        assert org is not None
        return org.plan_tier


async def add_org_card(team: Team) -> dict[str, Any]:
    body = {"paymentMethodId": "pm_card_visa"}
    r = await team.owner.client.post(billing(team, "/payment-methods"), json=body)
    assert r.status_code == 201, r.text
    method: dict[str, Any] = r.json()["paymentMethod"]
    return method


async def subscribe_org(team: Team, interval: str = "month") -> dict[str, Any]:
    await add_org_card(team)
    ids = await plan_ids(team.owner.client)
    body = {"planId": ids["PRO"], "interval": interval}
    r = await team.owner.client.post(billing(team, "/change-plan"), json=body)
    assert r.status_code == 200, r.text
    return dict(r.json()["subscription"])


async def test_an_owner_subscribes_the_org_on_its_own_customer(
    team: Team,
    people: People,
    stripe_url: str,  # noqa: F811
) -> None:
    portal = portal_of(people)
    owner = team.owner.client
    ids = await plan_ids(owner)
    preview = await team.member.client.get(billing(team, f"/change-plan?planId={ids['PRO']}"))
    assert preview.status_code == 200, preview.text
    assert preview.json()["currentPlan"]["tier"] == "FREE"
    assert (preview.json()["newPlan"]["tier"], preview.json()["amountDue"]) == ("PRO", 2900)

    sub = await subscribe_org(team)
    assert (sub["status"], sub["plan"], sub["interval"]) == (
        "ACTIVE",
        {"name": "Pro", "tier": "PRO"},
        "month",
    )
    assert await org_tier(portal, team.org_id) == "PRO"
    # The owner's own plan and billing are untouched.
    assert (await owner.get("/api/user/profile")).json()["plan"] == "FREE"
    mine = (await owner.get("/api/billing")).json()
    assert mine["subscription"]["plan"]["tier"] == "FREE"
    assert mine["paymentMethods"] == [] and mine["recentInvoices"] == []

    # The org's customer is its own (metadata org_id), not the owner's.
    await subscribe(owner)  # the owner also goes PRO personally, on their own customer
    async with transaction(portal.sessionmaker) as db:
        org_customer = await db.scalar(
            select(OrgBillingCustomer.stripe_customer_id).where(
                OrgBillingCustomer.org_id == team.org_id
            )
        )
        user_customer = await db.scalar(
            select(BillingCustomer.stripe_customer_id).where(
                BillingCustomer.user_id == team.owner.id
            )
        )
    assert org_customer and user_customer and org_customer != user_customer
    async with httpx.AsyncClient(base_url=stripe_url, auth=(SECRET_KEY, "")) as emulator:
        remote = (await emulator.get(f"/v1/customers/{org_customer}")).json()
    assert remote["metadata"] == {"org_id": team.org_id}
    assert remote["email"] == team.owner.user.email

    # Every member reads the overview; invoices are the org's only.
    overview = (await team.member.client.get(billing(team))).json()
    assert overview["subscription"] == sub
    assert overview["usage"] == {"tokensUsed": 0, "tokensLimit": 50000, "percentUsed": 0.0}
    assert [m["last4"] for m in overview["paymentMethods"]] == ["4242"]
    org_invoices = (await team.admin.client.get(billing(team, "/invoices"))).json()
    own_invoices = (await owner.get("/api/billing/invoices")).json()
    assert (org_invoices["total"], own_invoices["total"]) == (1, 1)
    assert org_invoices["invoices"][0]["amountPaid"] == 2900
    assert org_invoices["invoices"][0]["id"] != own_invoices["invoices"][0]["id"]
    assert overview["recentInvoices"] == org_invoices["invoices"]

    again = await owner.post(billing(team, "/change-plan"), json={"planId": ids["PRO"]})
    assert (again.status_code, again.json()) == (
        400,
        {"error": "planId: the organization is already on this plan"},
    )


async def test_the_org_overview_counts_its_keys_usage(team: Team, people: People) -> None:
    portal = portal_of(people)
    today = datetime.now(UTC).date()
    async with transaction(portal.sessionmaker) as db:
        common = {"model": "m", "status": "success", "day": today, "requests": 1}
        org_use = {"prompt_tokens": 300, "completion_tokens": 200}
        db.add(
            UsageDaily(
                user_id=team.admin.id, api_key_id="k1", org_id=team.org_id, **common, **org_use
            )
        )
        # The admin's personal use is theirs alone.
        db.add(UsageDaily(user_id=team.admin.id, prompt_tokens=70, completion_tokens=30, **common))
    org_usage = (await team.member.client.get(billing(team))).json()["usage"]
    assert org_usage == {"tokensUsed": 500, "tokensLimit": 1000, "percentUsed": 50.0}
    own = (await team.admin.client.get("/api/billing")).json()["usage"]
    assert own == {"tokensUsed": 100, "tokensLimit": 1000, "percentUsed": 10.0}


async def test_a_paid_plan_needs_a_card_on_the_orgs_customer(team: Team, people: People) -> None:
    # The owner's personal card does not pay for the org.
    r = await team.owner.client.post(
        "/api/billing/payment-methods", json={"paymentMethodId": "pm_card_visa"}
    )
    assert r.status_code == 201, r.text
    ids = await plan_ids(team.owner.client)
    r = await team.owner.client.post(billing(team, "/change-plan"), json={"planId": ids["PRO"]})
    assert (r.status_code, r.json()) == (
        402,
        {"error": "Add a payment method before choosing a paid plan"},
    )
    assert await org_tier(portal_of(people), team.org_id) == "FREE"


async def test_cancel_keeps_pro_until_stripe_ends_it_then_the_webhook_frees_the_org(
    team: Team,
    people: People,
    stripe_url: str,  # noqa: F811
) -> None:
    portal = portal_of(people)
    owner = team.owner.client
    nothing = await owner.post(billing(team, "/cancel"))
    assert (nothing.status_code, nothing.json()) == (
        400,
        {"error": "The organization has no paid subscription to cancel"},
    )
    await subscribe(owner)  # the owner's own PRO must survive the org's cancellation
    sub = await subscribe_org(team)

    # A renewing subscription stops the org from being deleted.
    r = await owner.delete(f"/api/orgs/{team.org_id}")
    assert (r.status_code, r.json()) == (
        409,
        {"error": "Cancel the organization's paid subscription before deleting the organization"},
    )
    r = await owner.post(billing(team, "/cancel"))
    assert r.status_code == 200, r.text
    assert r.json()["subscription"] == {**sub, "cancelAtPeriodEnd": True}
    assert await org_tier(portal, team.org_id) == "PRO"

    async with transaction(portal.sessionmaker) as db:
        sub_id = await db.scalar(
            select(Subscription.stripe_subscription_id).where(Subscription.org_id == team.org_id)
        )
    async with httpx.AsyncClient(base_url=stripe_url, auth=(SECRET_KEY, "")) as emulator:
        canceled = (await emulator.delete(f"/v1/subscriptions/{sub_id}")).json()
    payload = event(f"evt_org_deleted_{team.org_id}", "customer.subscription.deleted", canceled)
    r = await deliver(owner, payload)
    assert (r.status_code, r.json()) == (200, {"received": True, "duplicate": False})
    assert await org_tier(portal, team.org_id) == "FREE"
    overview = (await team.member.client.get(billing(team))).json()
    assert overview["subscription"]["id"] is None
    assert overview["subscription"]["plan"] == {"name": "Free", "tier": "FREE"}
    assert (await owner.get("/api/user/profile")).json()["plan"] == "PRO"
    r = await owner.delete(f"/api/orgs/{team.org_id}")
    assert r.status_code == 200, r.text


async def test_an_invoice_event_for_the_orgs_customer_is_the_orgs(
    team: Team, people: People
) -> None:
    await subscribe_org(team)
    portal = portal_of(people)
    async with transaction(portal.sessionmaker) as db:
        sub = await db.scalar(select(Subscription).where(Subscription.org_id == team.org_id))
        customer = await db.scalar(select(OrgBillingCustomer.stripe_customer_id))
    assert sub is not None and customer is not None
    invoice = {
        "id": f"in_failed_{team.org_id[-8:]}",
        "object": "invoice",
        "customer": customer,
        "subscription": sub.stripe_subscription_id,
        "status": "open",
        "amount_due": 2900,
        "amount_paid": 0,
        "currency": "usd",
    }
    r = await deliver(
        team.owner.client, event(f"evt_inv_{team.org_id}", "invoice.payment_failed", invoice)
    )
    assert r.status_code == 200, r.text
    invoices = (await team.member.client.get(billing(team, "/invoices"))).json()
    assert invoice["id"] in [i["id"] for i in invoices["invoices"]]
    assert (await team.owner.client.get("/api/billing/invoices")).json()["total"] == 0
    overview = (await team.member.client.get(billing(team))).json()
    assert overview["subscription"]["status"] == "PAST_DUE"
    assert await org_tier(portal, team.org_id) == "PRO"  # kept while Stripe retries


@pytest.mark.parametrize("who", ["admin", "member"])
async def test_only_an_owner_changes_the_plan_or_the_cards(
    team: Team, people: People, who: str
) -> None:
    card = await add_org_card(team)
    client = getattr(team, who).client
    ids = await plan_ids(client)
    methods = billing(team, "/payment-methods")
    calls = [
        client.post(billing(team, "/change-plan"), json={"planId": ids["PRO"]}),
        client.post(billing(team, "/cancel")),
        client.post(methods, json={"paymentMethodId": "pm_card_visa"}),
        client.patch(f"{methods}/{card['id']}", json={"isDefault": True}),
        client.delete(f"{methods}/{card['id']}"),
    ]
    for call in calls:
        r = await call
        assert (r.status_code, r.json()) == (
            403,
            {"error": "Only an owner of the organization can do this"},
        ), r.request.url
    # ... and reads everything.
    for path in ("", "/invoices", "/payment-methods", f"/change-plan?planId={ids['PRO']}"):
        assert (await client.get(billing(team, path))).status_code == 200, path
    listed = (await client.get(methods)).json()["paymentMethods"]
    assert [m["id"] for m in listed] == [card["id"]]


async def test_outsiders_and_other_orgs_ids_are_404(team: Team, people: People) -> None:
    other = await people.team("Globex")
    card = await add_org_card(other)
    paths = [billing(other, p) for p in ("", "/invoices", "/payment-methods", "/change-plan")]
    for client in (team.owner.client, other.outsider.client):
        for path in paths:
            r = await client.get(path)
            assert (r.status_code, r.json()) == (404, {"error": "Organization not found"}), path
        r = await client.post(billing(other, "/cancel"))
        assert r.status_code == 404
    # The other org's card under one's own org is not there either.
    r = await team.owner.client.delete(billing(team, f"/payment-methods/{card['id']}"))
    assert (r.status_code, r.json()) == (404, {"error": "Payment method not found"})


async def test_without_a_session_it_is_401(team: Team, people: People) -> None:
    transport = httpx.ASGITransport(app=people.app, client=("127.0.0.1", 50990))
    async with httpx.AsyncClient(
        transport=transport, base_url=str(team.owner.client.base_url)
    ) as c:
        for path in ("", "/invoices", "/payment-methods", "/change-plan"):
            assert (await c.get(billing(team, path))).status_code == 401
        assert (await c.post(billing(team, "/cancel"))).status_code == 401


@pytest.mark.parametrize(
    ("method", "tail", "body", "error"),
    [
        ("post", "/change-plan", {}, "planId is required"),
        ("post", "/change-plan", {"planId": "{PRO}", "interval": "week"}, None),
        ("get", "/change-plan", None, "planId is required"),
        ("get", "/invoices?limit=0", None, "limit: must be between 1 and 100"),
        ("get", "/invoices?offset=x", None, "offset: must be an integer"),
        ("post", "/payment-methods", {"paymentMethodId": "card_1"}, None),
        ("patch", "/payment-methods/pm_x", {"isDefault": False}, None),
    ],
)
async def test_bad_input_is_400(
    team: Team, method: str, tail: str, body: dict[str, Any] | None, error: str | None
) -> None:
    ids = await plan_ids(team.owner.client)
    if body is not None:
        body = {k: ids["PRO"] if v == "{PRO}" else v for k, v in body.items()}
    call = getattr(team.owner.client, method)
    r = await (
        call(billing(team, tail), json=body) if body is not None else call(billing(team, tail))
    )
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)
    if error is not None:
        assert r.json()["error"] == error


async def test_an_unknown_plan_is_404(team: Team) -> None:
    r = await team.owner.client.post(billing(team, "/change-plan"), json={"planId": "nope"})
    assert (r.status_code, r.json()) == (404, {"error": "Plan not found"})


# --- the quota: an org key's tokens count toward the org's plan, not its creator's ------------

CHAT = {"model": "priced", "messages": [{"role": "user", "content": "Hello"}]}
REFUSED_ORG = "Monthly token limit of the organization's plan reached"
REFUSED_USER = "Monthly token limit reached"


async def used(portal: Portal, user_id: str, key_id: str, org_id: str | None, tokens: int) -> None:
    async with transaction(portal.sessionmaker) as db:
        db.add(
            UsageRecord(
                user_id=user_id,
                api_key_id=key_id,
                org_id=org_id,
                model="priced",
                prompt_tokens=tokens,
                status="success",
            )
        )


async def keys_of(team: Team) -> tuple[str, str, str]:
    """(the org key's secret, its id, the admin's personal key's secret); the admin made both."""
    org_key = await team.admin.client.post(f"/api/orgs/{team.org_id}/keys", json={"name": "CI"})
    assert org_key.status_code == 201, org_key.text
    personal = await create_key(team.admin.client)
    return org_key.json()["key"], org_key.json()["id"], personal["key"]


async def complete(team: Team, secret: str) -> httpx.Response:
    return await team.outsider.client.post(
        "/v1/chat/completions", json=CHAT, headers=bearer(secret)
    )


async def test_an_org_key_stops_at_the_orgs_allowance_not_its_creators(
    gw_people: People,
) -> None:
    team = await gw_people.team()  # everyone, and the org, on Free: 1,000 tokens a month
    portal = portal_of(gw_people)
    org_secret, org_key_id, personal_secret = await keys_of(team)
    await used(portal, team.admin.id, org_key_id, team.org_id, 1000)

    r = await complete(team, org_secret)
    assert (r.status_code, r.json()["error"]) == (429, REFUSED_ORG), r.text
    assert int(r.headers["retry-after"]) > 0
    # The creator's own allowance does not hold the org's use.
    assert (await complete(team, personal_secret)).status_code == 200

    # The org moves to a bigger plan: its key works at once (the key cache hears of the row).
    async with transaction(portal.sessionmaker) as db:
        org = await db.get(Organization, team.org_id)
        assert org is not None
        org.plan_tier = "UNLIMITED"
    assert (await complete(team, org_secret)).status_code == 200


async def test_a_creators_spent_allowance_does_not_stop_the_org_key(gw_people: People) -> None:
    team = await gw_people.team()
    portal = portal_of(gw_people)
    org_secret, _, personal_secret = await keys_of(team)
    await used(portal, team.admin.id, "personal", None, 1000)

    r = await complete(team, personal_secret)
    assert (r.status_code, r.json()["error"]) == (429, REFUSED_USER), r.text
    assert (await complete(team, org_secret)).status_code == 200
    await portal.services["usage_writer"].flush()
    # What the org key used is the org's: the creator is still at exactly their 1,000.
    assert (await complete(team, personal_secret)).status_code == 429
    overview = (await team.admin.client.get("/api/billing")).json()["usage"]
    assert overview["tokensLimit"] == 1000

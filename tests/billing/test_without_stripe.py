"""Billing on a portal without STRIPE_SECRET_KEY: reads work, paid changes answer 503."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.portal import Portal
from llmportal.usage.service import month_bounds
from tests.conftest import KeyFactory
from tests.fixtures import factories
from tests.usage.helpers import record, write

NOT_CONFIGURED = {"error": "Billing is not configured"}


async def plan_id(c: httpx.AsyncClient, tier: str) -> str:
    plans = (await c.get("/api/billing/plans")).json()["plans"]
    return str(next(p["id"] for p in plans if p["tier"] == tier))


async def test_overview_of_a_free_user(
    portal: Portal, user_client: httpx.AsyncClient, user: Any
) -> None:
    now = datetime.now(UTC)
    first, nxt = month_bounds(now.date())
    last_month = datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    await write(
        portal,
        record(user, prompt_tokens=100, completion_tokens=150),
        record(user, status="error", prompt_tokens=5),
        record(user, prompt_tokens=10_000, created_at=last_month),
    )
    r = await user_client.get("/api/billing")
    assert r.status_code == 200
    assert r.json() == {
        "subscription": {
            "id": None,
            "status": "ACTIVE",
            "plan": {"name": "Free", "tier": "FREE"},
            "interval": None,
            "currentPeriod": {"start": first.isoformat(), "end": nxt.isoformat()},
            "cancelAtPeriodEnd": False,
        },
        "usage": {"tokensUsed": 255, "tokensLimit": 1000, "percentUsed": 25.5},
        "paymentMethods": [],
        "recentInvoices": [],
    }


async def test_overview_of_an_unlimited_plan_has_no_limit(
    portal: Portal, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    # Configured plans are unknown here: a tier without a plan row shows no allowance.
    user = await make_user(plan="CUSTOM")
    await factories.login(client, user.email)
    body = (await client.get("/api/billing")).json()
    assert body["subscription"]["plan"] == {"name": "Custom", "tier": "CUSTOM"}
    assert body["usage"] == {"tokensUsed": 0, "tokensLimit": None, "percentUsed": None}


async def test_paid_changes_answer_503(user_client: httpx.AsyncClient) -> None:
    pro = await plan_id(user_client, "PRO")
    r = await user_client.post("/api/billing/change-plan", json={"planId": pro})
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)
    r = await user_client.get(f"/api/billing/change-plan?planId={pro}&interval=year")
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)
    r = await user_client.post("/api/billing/payment-methods", json={"paymentMethodId": "pm_x"})
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)
    r = await user_client.patch("/api/billing/payment-methods/pm_x", json={"isDefault": True})
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)
    r = await user_client.delete("/api/billing/payment-methods/pm_x")
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)
    r = await user_client.post("/api/billing/webhook", content=b"{}")
    assert (r.status_code, r.json()) == (503, NOT_CONFIGURED)


async def test_reads_work_without_stripe(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get("/api/billing/payment-methods")
    assert (r.status_code, r.json()) == (200, {"paymentMethods": []})
    r = await user_client.get("/api/billing/invoices")
    assert r.json() == {"invoices": [], "total": 0, "limit": 20, "offset": 0}


async def test_moving_to_free_needs_no_stripe(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user(plan="PRO")
    await factories.login(client, user.email)
    free = await plan_id(client, "FREE")
    preview = await client.get(f"/api/billing/change-plan?planId={free}")
    assert preview.status_code == 200
    assert preview.json()["amountDue"] == 0
    assert preview.json()["newPlan"] == {
        "id": free,
        "name": "Free",
        "tier": "FREE",
        "interval": None,
    }
    r = await client.post("/api/billing/change-plan", json={"planId": free})
    assert r.status_code == 200
    assert r.json()["subscription"]["plan"] == {"name": "Free", "tier": "FREE"}
    profile = (await client.get("/api/user/profile")).json()
    assert profile["plan"] == "FREE"


async def test_cancel_without_a_subscription_is_400(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/billing/cancel")
    assert (r.status_code, r.json()) == (400, {"error": "You have no paid subscription to cancel"})


async def resolve(c: httpx.AsyncClient, values: dict[str, Any]) -> dict[str, Any]:
    ids = {"FREE_ID": await plan_id(c, "FREE"), "PRO_ID": await plan_id(c, "PRO")}
    return {k: ids.get(v, v) if isinstance(v, str) else v for k, v in values.items()}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "planId is required"),
        ({"planId": ""}, 400, "planId: String should have at least 1 character"),
        ({"planId": "nope"}, 404, "Plan not found"),
        ({"planId": "FREE_ID"}, 400, "planId: you are already on this plan"),
        ({"planId": "PRO_ID", "interval": "week"}, 400, "interval: must be month or year"),
        ({"planId": "PRO_ID", "extra": 1}, 400, "extra is not allowed"),
    ],
)
async def test_change_plan_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], status: int, message: str
) -> None:
    r = await user_client.post("/api/billing/change-plan", json=await resolve(user_client, body))
    assert (r.status_code, r.json()) == (status, {"error": message})


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({}, 400, "planId is required"),
        ({"planId": ""}, 400, "planId is required"),
        ({"planId": "nope"}, 404, "Plan not found"),
        ({"planId": "FREE_ID"}, 400, "planId: you are already on this plan"),
        ({"planId": "PRO_ID", "interval": "week"}, 400, "interval: must be month or year"),
    ],
)
async def test_change_plan_preview_validation(
    user_client: httpx.AsyncClient, query: dict[str, Any], status: int, message: str
) -> None:
    r = await user_client.get("/api/billing/change-plan", params=await resolve(user_client, query))
    assert (r.status_code, r.json()) == (status, {"error": message})


async def test_every_billing_endpoint_needs_authentication(client: httpx.AsyncClient) -> None:
    calls = [
        ("GET", "/api/billing", None),
        ("GET", "/api/billing/plans", None),
        ("GET", "/api/billing/change-plan?planId=x", None),
        ("POST", "/api/billing/change-plan", {"planId": "x"}),
        ("POST", "/api/billing/cancel", None),
        ("GET", "/api/billing/invoices", None),
        ("GET", "/api/billing/payment-methods", None),
        ("POST", "/api/billing/payment-methods", {"paymentMethodId": "pm_x"}),
        ("PATCH", "/api/billing/payment-methods/pm_x", {"isDefault": True}),
        ("DELETE", "/api/billing/payment-methods/pm_x", None),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, json=body)
        assert r.status_code == 401, (method, path)
        assert r.json() == {"error": "Authentication required"}


async def test_api_keys_read_billing_but_cannot_change_it(
    client: httpx.AsyncClient, user: Any, key_for: KeyFactory
) -> None:
    headers = (await key_for(user)).headers
    for path in ("/api/billing", "/api/billing/plans", "/api/billing/invoices"):
        assert (await client.get(path, headers=headers)).status_code == 200, path
    plans = (await client.get("/api/billing/plans", headers=headers)).json()["plans"]
    pro = next(p["id"] for p in plans if p["tier"] == "PRO")
    changes = [
        ("POST", "/api/billing/change-plan", {"planId": pro}),
        ("POST", "/api/billing/cancel", None),
        ("POST", "/api/billing/payment-methods", {"paymentMethodId": "pm_x"}),
        ("PATCH", "/api/billing/payment-methods/pm_x", {"isDefault": True}),
        ("DELETE", "/api/billing/payment-methods/pm_x", None),
    ]
    for method, path, body in changes:
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403, (method, path)
        assert r.json() == {"error": "This endpoint requires a browser session"}

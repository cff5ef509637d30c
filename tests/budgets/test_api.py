"""maxBudget / budgetPeriod through the API: on keys (POST/PATCH /api/keys, shown with the spend
of the current period), on the user's own profile (browser session only) and through the admin
API; validation, and other users' ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from llmportal.budgets.periods import period_bounds
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.conftest import BASE_URL, KeyFactory
from tests.fixtures import factories
from tests.keys.helpers import create_key
from tests.keys.test_usage import add_usage

BAD_BUDGETS = [
    ({"maxBudget": 0}, "maxBudget: Input should be greater than 0"),
    ({"maxBudget": -5}, "maxBudget: Input should be greater than 0"),
    ({"maxBudget": "lots"}, "maxBudget: Input should be a valid decimal"),
    ({"maxBudget": True}, "maxBudget: Decimal input should be an integer, float, string or"),
    ({"maxBudget": 2e9}, "maxBudget: Input should be less than or equal to 1000000000"),
    ({"maxBudget": 0.0000001}, "maxBudget: Decimal input should have no more than 6 decimal"),
    ({"budgetPeriod": "yearly"}, "budgetPeriod: Input should be 'daily', 'weekly' or 'monthly'"),
    ({"budgetPeriod": 7}, "budgetPeriod: Input should be 'daily', 'weekly' or 'monthly'"),
]


def ends(period: str) -> str:
    _, end = period_bounds(period, datetime.now(UTC))
    assert end is not None
    return end.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_key_budget_create_show_change_and_remove(
    user_client: httpx.AsyncClient, user: User, portal: Portal
) -> None:
    created = await create_key(user_client, maxBudget=5, budgetPeriod="daily")
    assert created["maxBudget"] == 5.0
    assert created["budgetPeriod"] == "daily"
    assert created["budgetSpend"] == 0.0
    assert created["budgetResetsAt"] == ends("daily")
    assert (await user_client.delete(f"/api/keys/{created['id']}")).status_code == 200
    # Spend recorded before a budget exists counts once it is set: its tally starts from it.
    key = await create_key(user_client, name="second")
    now = datetime.now(UTC)
    await add_usage(portal, user.id, key["id"], a=(now, 10, 10, 1_234_500, 1, "success"))
    r = await user_client.patch(f"/api/keys/{key['id']}", json={"maxBudget": 5})
    assert r.status_code == 200, r.text
    assert (r.json()["budgetPeriod"], r.json()["budgetSpend"]) == (None, 1.2345)
    r = await user_client.patch(
        f"/api/keys/{key['id']}", json={"maxBudget": "7.25", "budgetPeriod": "daily"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["maxBudget"], body["budgetPeriod"], body["budgetSpend"]) == (7.25, "daily", 1.2345)
    created = key
    r = await user_client.patch(f"/api/keys/{created['id']}", json={"budgetPeriod": None})
    assert r.json()["budgetPeriod"] is None and r.json()["budgetResetsAt"] is None  # lifetime
    listed = (await user_client.get("/api/keys")).json()["keys"][0]
    assert (listed["maxBudget"], listed["budgetSpend"]) == (7.25, 1.2345)
    r = await user_client.patch(f"/api/keys/{created['id']}", json={"maxBudget": None})
    body = r.json()
    assert (body["maxBudget"], body["budgetSpend"], body["budgetResetsAt"]) == (None, None, None)


async def test_a_key_without_budget_shows_nulls(user_client: httpx.AsyncClient) -> None:
    created = await create_key(user_client)
    assert {k: created[k] for k in ("maxBudget", "budgetPeriod", "budgetSpend")} == {
        "maxBudget": None,
        "budgetPeriod": None,
        "budgetSpend": None,
    }
    r = await user_client.get(f"/api/keys/{created['id']}")
    assert r.json()["budgetResetsAt"] is None


@pytest.mark.parametrize(("body", "error"), BAD_BUDGETS)
async def test_key_budget_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    r = await user_client.post("/api/keys", json={"name": "k", **body})
    assert r.status_code == 400
    assert r.json()["error"].startswith(error), r.json()
    created = await create_key(user_client, name="ok")
    r = await user_client.patch(f"/api/keys/{created['id']}", json=body)
    assert r.status_code == 400 and r.json()["error"].startswith(error)


async def test_another_users_key_budget_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    created = await create_key(user_client)
    r = await other_user_client.patch(f"/api/keys/{created['id']}", json={"maxBudget": 100})
    assert r.status_code == 404 and r.json() == {"error": "API key not found"}
    assert (await user_client.get(f"/api/keys/{created['id']}")).json()["maxBudget"] is None


async def test_a_key_cannot_set_budgets(
    user_client: httpx.AsyncClient, user: User, key_for: KeyFactory
) -> None:
    key = await key_for(user)
    r = await user_client.post("/api/keys", json={"name": "k"}, headers=key.headers)
    assert r.status_code == 403
    r = await user_client.patch("/api/user/profile", json={"maxBudget": 1000}, headers=key.headers)
    assert r.status_code == 403
    assert r.json() == {"error": "Changing the budget requires a browser session"}
    # The rest of the profile stays open to keys.
    r = await user_client.patch("/api/user/profile", json={"company": "Acme"}, headers=key.headers)
    assert r.status_code == 200 and r.json()["maxBudget"] is None


async def test_user_sets_their_own_budget_on_the_profile(
    user_client: httpx.AsyncClient, user: User, portal: Portal
) -> None:
    r = await user_client.patch(
        "/api/user/profile", json={"maxBudget": 20, "budgetPeriod": "weekly"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["maxBudget"], body["budgetPeriod"], body["budgetSpend"]) == (20.0, "weekly", 0.0)
    assert body["budgetResetsAt"] == ends("weekly")
    # The user's budget counts every key and the browser alike.
    await add_usage(portal, user.id, None, web=(datetime.now(UTC), 1, 1, 500_000, 1, "success"))
    await add_usage(portal, user.id, "k1", key=(datetime.now(UTC), 1, 1, 250_000, 1, "success"))
    r = await user_client.patch("/api/user/profile", json={"budgetPeriod": "monthly"})
    assert r.json()["budgetSpend"] == 0.75
    assert (await user_client.get("/api/user/profile")).json()["budgetSpend"] == 0.75
    login = await factories.login(user_client, user.email)
    assert (login["maxBudget"], login["budgetPeriod"]) == (20.0, "monthly")
    r = await user_client.patch("/api/user/profile", json={"maxBudget": None})
    assert r.json()["maxBudget"] is None and r.json()["budgetSpend"] is None


@pytest.mark.parametrize(("body", "error"), BAD_BUDGETS)
async def test_profile_budget_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    r = await user_client.patch("/api/user/profile", json=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith(error), r.json()


async def test_admin_sets_a_users_budget_and_it_is_audited(
    admin_client: httpx.AsyncClient, user_client: httpx.AsyncClient, user: User
) -> None:
    r = await admin_client.patch(
        f"/api/admin/users/{user.id}", json={"maxBudget": 50, "budgetPeriod": "monthly"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["user"]["maxBudget"], r.json()["user"]["budgetSpend"]) == (50.0, 0.0)
    me = (await user_client.get("/api/user/profile")).json()
    assert (me["maxBudget"], me["budgetPeriod"]) == (50.0, "monthly")
    listed = (await admin_client.get("/api/admin/users", params={"q": user.email})).json()
    assert listed["users"][0]["maxBudget"] == 50.0
    entry = (await admin_client.get("/api/admin/audit")).json()["entries"][0]
    assert entry["action"] == "user.budget" and entry["targetId"] == user.id
    assert entry["details"] == {
        "email": user.email,
        "previous": {"maxBudget": None, "budgetPeriod": None},
        "maxBudget": 50.0,
        "budgetPeriod": "monthly",
    }
    # The same budget again changes nothing and writes no second entry.
    await admin_client.patch(f"/api/admin/users/{user.id}", json={"maxBudget": 50})
    assert (await admin_client.get("/api/admin/audit")).json()["total"] == 1


@pytest.mark.parametrize(("body", "error"), BAD_BUDGETS)
async def test_admin_budget_validation(
    admin_client: httpx.AsyncClient, user: User, body: dict[str, Any], error: str
) -> None:
    r = await admin_client.patch(f"/api/admin/users/{user.id}", json=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith(error), r.json()


async def test_admin_budget_needs_the_admin_role_and_a_real_user(
    admin_client: httpx.AsyncClient, user_client: httpx.AsyncClient, user: User, app: FastAPI
) -> None:
    r = await user_client.patch(f"/api/admin/users/{user.id}", json={"maxBudget": 10_000})
    assert r.status_code == 403
    r = await admin_client.patch("/api/admin/users/c0mwnosuchuser", json={"maxBudget": 1})
    assert r.status_code == 404
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
        r = await anonymous.patch(f"/api/admin/users/{user.id}", json={"maxBudget": 1})
        assert r.status_code == 401
        r = await anonymous.patch("/api/user/profile", json={"maxBudget": 1})
        assert r.status_code == 401

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from llmportal.app import create_app
from llmportal.billing.models import Plan
from llmportal.db import transaction
from llmportal.portal import Portal
from tests.conftest import BASE_URL, make_settings
from tests.fixtures import factories


async def test_plans_list_the_seeded_plans_with_a_feature_matrix(
    user_client: httpx.AsyncClient,
) -> None:
    r = await user_client.get("/api/billing/plans")
    assert r.status_code == 200
    body = r.json()
    free, pro = body["plans"]
    assert free == {
        "id": free["id"],
        "name": "Free",
        "tier": "FREE",
        "monthlyPrice": 0,
        "features": {"tokens": "1,000/mo", "apiKeys": 1, "storage": "5 GB"},
    }
    assert pro == {
        "id": pro["id"],
        "name": "Pro",
        "tier": "PRO",
        "monthlyPrice": 2900,
        "yearlyPrice": 24900,
        "features": {
            "tokens": "50,000/mo",
            "apiKeys": 10,
            "storage": "5 GB",
            "support": "Priority",
        },
    }
    assert free["id"] != pro["id"] and free["id"].startswith("c")
    assert body["currentPlanId"] == free["id"]
    assert body["features"] == [
        {"name": "Monthly Tokens", "values": {"FREE": "1,000", "PRO": "50,000"}},
        {"name": "API Keys", "values": {"FREE": "1", "PRO": "10"}},
        {"name": "Storage", "values": {"FREE": "5 GB", "PRO": "5 GB"}},
        {"name": "Support", "values": {"FREE": "Standard", "PRO": "Priority"}},
    ]


async def test_current_plan_follows_the_users_tier(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user(plan="PRO")
    await factories.login(client, user.email)
    body = (await client.get("/api/billing/plans")).json()
    pro = next(p for p in body["plans"] if p["tier"] == "PRO")
    assert body["currentPlanId"] == pro["id"]


async def test_plans_need_authentication(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/billing/plans")
    assert r.status_code == 401


async def test_plans_come_from_the_configuration_and_keep_their_ids(
    portal: Portal, database_url: str, tmp_path: Path, make_user: Callable[..., Any]
) -> None:
    async with transaction(portal.sessionmaker) as db:
        ids_before = {p.tier: p.id for p in await db.scalars(select(Plan))}
    config = tmp_path / "plans.toml"
    config.write_text(
        "[[plans]]\n"
        'tier = "team"\nname = "Team"\nmonthly_price = 9900\nmonthly_tokens = 0\n'
        "api_keys = 100\nstorage_bytes = 53687091200\n"
        "[[plans]]\n"
        'tier = "PRO"\nname = "Pro Plus"\nmonthly_price = 3900\nmonthly_tokens = 80000\n'
        'api_keys = 20\nsupport = "24/7"\n'
    )
    settings = make_settings(database_url, tmp_path, config=str(config))
    app = create_app(settings)
    user = await make_user()
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50020))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            await factories.login(c, user.email)
            body = (await c.get("/api/billing/plans")).json()
    plans = {p["tier"]: p for p in body["plans"]}
    assert list(plans) == ["FREE", "PRO", "TEAM"]
    assert plans["PRO"]["id"] == ids_before["PRO"]
    assert plans["PRO"]["name"] == "Pro Plus"
    assert plans["PRO"]["features"]["tokens"] == "80,000/mo"
    assert "yearlyPrice" not in plans["PRO"]
    assert plans["TEAM"]["features"] == {
        "tokens": "Unlimited",
        "apiKeys": 100,
        "storage": "50 GB",
    }
    assert body["features"][0]["values"]["TEAM"] == "Unlimited"

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from tests.keys.helpers import create_key


async def add_usage(portal: Portal, user_id: str, key_id: str | None, **rows: Any) -> None:
    """rows: name -> (created_at, prompt, completion, cost_micros, latency_ms, status)."""
    async with transaction(portal.sessionmaker) as db:
        for when, prompt, completion, cost, latency, status in rows.values():
            db.add(
                UsageRecord(
                    created_at=when,
                    user_id=user_id,
                    api_key_id=key_id,
                    model="m",
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    input_cost_micros=cost,
                    output_cost_micros=0,
                    latency_ms=latency,
                    status=status,
                )
            )


@pytest.fixture
async def used_key(user_client: httpx.AsyncClient, user: Any, portal: Portal) -> dict[str, Any]:
    key = await create_key(user_client, name="Production Key")
    now = datetime.now(UTC)
    await add_usage(
        portal,
        user.id,
        key["id"],
        a=(now, 100, 200, 1_234_567, 800, "success"),
        b=(now, 10, 0, 5_000, 400, "error"),
        c=(now - timedelta(days=2), 1000, 500, 2_000_000, 300, "success"),
        old=(now - timedelta(days=10), 7, 3, 0, 100, "success"),
    )
    await add_usage(portal, user.id, None, web=(now, 999, 999, 9_999_999, 1, "success"))
    await add_usage(portal, user.id, "someotherkey", x=(now, 50, 50, 0, 1, "success"))
    return key


async def test_key_usage(user_client: httpx.AsyncClient, used_key: dict[str, Any]) -> None:
    r = await user_client.get(f"/api/keys/{used_key['id']}/usage?days=3")
    assert r.status_code == 200
    body = r.json()
    assert body["apiKey"] == {
        "id": used_key["id"],
        "name": "Production Key",
        "totalTokensUsed": 300 + 10 + 1500 + 10,
    }
    today = datetime.now(UTC).date()
    assert body["dailyUsage"] == [
        {
            "date": (today - timedelta(days=2)).isoformat(),
            "requests": 1,
            "tokens": 1500,
            "cost": 2.0,
            "errors": 0,
        },
        {
            "date": (today - timedelta(days=1)).isoformat(),
            "requests": 0,
            "tokens": 0,
            "cost": 0.0,
            "errors": 0,
        },
        {"date": today.isoformat(), "requests": 2, "tokens": 310, "cost": 1.24, "errors": 1},
    ]
    assert body["stats"] == {"totalRequests": 3, "totalTokens": 1810, "avgResponseTime": 500}


async def test_key_usage_defaults_to_30_days(
    user_client: httpx.AsyncClient, used_key: dict[str, Any]
) -> None:
    body = (await user_client.get(f"/api/keys/{used_key['id']}/usage")).json()
    assert len(body["dailyUsage"]) == 30
    assert body["stats"]["totalRequests"] == 4
    assert body["stats"]["totalTokens"] == 1820


async def test_unused_key_has_zero_usage(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    body = (await user_client.get(f"/api/keys/{key['id']}/usage?days=7")).json()
    assert body["apiKey"]["totalTokensUsed"] == 0
    assert [d["requests"] for d in body["dailyUsage"]] == [0] * 7
    assert body["stats"] == {"totalRequests": 0, "totalTokens": 0, "avgResponseTime": 0}
    assert (await user_client.get(f"/api/keys/{key['id']}/requests")).json() == {
        "requests": [],
        "limit": 10,
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=0", "days: Input should be greater than or equal to 1"),
        ("days=367", "days: Input should be less than or equal to 366"),
        ("days=abc", "days: Input should be a valid integer"),
    ],
)
async def test_key_usage_validation(
    user_client: httpx.AsyncClient, used_key: dict[str, Any], query: str, message: str
) -> None:
    r = await user_client.get(f"/api/keys/{used_key['id']}/usage?{query}")
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)


async def test_key_request_history(
    user_client: httpx.AsyncClient, used_key: dict[str, Any]
) -> None:
    today = datetime.now(UTC).date()
    r = await user_client.get(f"/api/keys/{used_key['id']}/requests?limit=2")
    assert r.status_code == 200
    body = r.json()
    assert body["limit"] == 2
    assert body["requests"] == [
        {
            "date": today.isoformat(),
            "requests": 2,
            "tokens": 310,
            "promptTokens": 110,
            "completionTokens": 200,
            "cost": 1.24,
            "errors": 1,
            "avgResponseTime": 600,
        },
        {
            "date": (today - timedelta(days=2)).isoformat(),
            "requests": 1,
            "tokens": 1500,
            "promptTokens": 1000,
            "completionTokens": 500,
            "cost": 2.0,
            "errors": 0,
            "avgResponseTime": 300,
        },
    ]
    everything = (await user_client.get(f"/api/keys/{used_key['id']}/requests")).json()
    assert [d["date"] for d in everything["requests"]] == [
        today.isoformat(),
        (today - timedelta(days=2)).isoformat(),
        (today - timedelta(days=10)).isoformat(),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("limit=1000", "limit: Input should be less than or equal to 366"),
        ("limit=x", "limit: Input should be a valid integer"),
    ],
)
async def test_key_request_history_validation(
    user_client: httpx.AsyncClient, used_key: dict[str, Any], query: str, message: str
) -> None:
    r = await user_client.get(f"/api/keys/{used_key['id']}/requests?{query}")
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)

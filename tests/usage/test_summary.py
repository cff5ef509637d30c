from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.portal import Portal
from tests.conftest import KeyFactory
from tests.usage.helpers import noon, record, today, write


async def seed(portal: Portal, user: Any, other: Any) -> None:
    await write(
        portal,
        record(
            user,
            prompt_tokens=100,
            completion_tokens=50,
            input_cost_micros=1_234_567,
            output_cost_micros=2_500_000,
            latency_ms=800,
        ),
        record(user, status="error", prompt_tokens=10, input_cost_micros=5, latency_ms=200),
        record(
            user,
            created_at=noon(2),
            model="beta",
            api_key_id="key_1",
            prompt_tokens=1000,
            completion_tokens=2000,
            input_cost_micros=3_333_333,
            output_cost_micros=6_666_667,
            image_cost_micros=1_005_000,
            latency_ms=1000,
        ),
        record(user, created_at=noon(10), model="gamma", prompt_tokens=7, input_cost_micros=70_000),
        record(other, prompt_tokens=999, input_cost_micros=9_000_000, api_key_id="key_other"),
    )


def days_back(n: int) -> list[str]:
    return [(today() - timedelta(days=i)).isoformat() for i in reversed(range(n))]


async def test_summary_of_seven_days_reports_every_number(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await seed(portal, user, await make_user())
    r = await user_client.get("/api/usage/summary", params={"period": "7d"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stats"] == {
        "totalRequests": 3,
        "totalTokens": 3160,
        "inputTokens": 1110,
        "outputTokens": 2050,
        "totalCost": 14.74,
        "avgResponseTime": 667,
        "errorCount": 1,
        "errorRate": 33.33,
    }
    zero = {"requests": 0, "tokens": 0, "cost": 0, "errors": 0}
    expected_days = {d: {"date": d, **zero} for d in days_back(7)}
    expected_days[days_back(3)[0]] = {
        "date": days_back(3)[0],
        "requests": 1,
        "tokens": 3000,
        "cost": 11.01,
        "errors": 0,
    }
    expected_days[today().isoformat()] = {
        "date": today().isoformat(),
        "requests": 2,
        "tokens": 160,
        "cost": 3.73,
        "errors": 1,
    }
    assert body["dailyUsage"] == list(expected_days.values())
    assert body["byModel"] == [
        {"model": "beta", "requests": 1, "tokens": 3000, "cost": 11.01, "percentage": 74.7},
        {"model": "alpha", "requests": 2, "tokens": 160, "cost": 3.73, "percentage": 25.3},
    ]
    # Rounded one by one these would be 4.57 + 9.17 + 1.01 = 14.75; the parts must add up.
    assert body["costBreakdown"] == {
        "inputTokensCost": 4.57,
        "outputTokensCost": 9.17,
        "imagesCost": 1.0,
        "total": 14.74,
    }


async def test_default_period_is_30_days_and_90d_reaches_further(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await seed(portal, user, await make_user())
    body = (await user_client.get("/api/usage/summary")).json()
    assert [d["date"] for d in body["dailyUsage"]] == days_back(30)
    assert body["stats"]["totalRequests"] == 4
    assert body["stats"]["totalCost"] == 14.81
    body = (await user_client.get("/api/usage/summary?period=90d")).json()
    assert len(body["dailyUsage"]) == 90
    assert body["stats"]["totalRequests"] == 4


async def test_filters_narrow_every_part_of_the_summary(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await seed(portal, user, await make_user())
    body = (await user_client.get("/api/usage/summary?period=7d&model=alpha")).json()
    assert body["stats"]["totalRequests"] == 2
    assert [m["model"] for m in body["byModel"]] == ["alpha"]
    assert body["byModel"][0]["percentage"] == 100.0
    assert body["costBreakdown"] == {
        "inputTokensCost": 1.23,
        "outputTokensCost": 2.5,
        "imagesCost": 0,
        "total": 3.73,
    }

    body = (await user_client.get("/api/usage/summary?period=7d&status=error")).json()
    assert body["stats"]["totalRequests"] == 1
    assert body["stats"]["errorCount"] == 1
    assert body["stats"]["errorRate"] == 100.0
    assert body["stats"]["avgResponseTime"] == 200

    body = (await user_client.get("/api/usage/summary?period=7d&status=success")).json()
    assert body["stats"]["errorCount"] == 0
    assert body["stats"]["errorRate"] == 0

    body = (await user_client.get("/api/usage/summary?period=7d&apiKeyId=key_1")).json()
    assert body["stats"]["totalRequests"] == 1
    assert body["byModel"][0]["model"] == "beta"

    body = (await user_client.get("/api/usage/summary?period=7d&model=never-used")).json()
    assert body["stats"]["totalRequests"] == 0
    assert body["byModel"] == []
    assert all(d["requests"] == 0 for d in body["dailyUsage"])


async def test_custom_date_range(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await seed(portal, user, await make_user())
    first = (today() - timedelta(days=10)).isoformat()
    last = (today() - timedelta(days=2)).isoformat()
    body = (await user_client.get(f"/api/usage/summary?from={first}&to={last}")).json()
    assert [d["date"] for d in body["dailyUsage"]] == days_back(11)[:9]
    assert body["stats"]["totalRequests"] == 2
    assert [m["model"] for m in body["byModel"]] == ["beta", "gamma"]
    assert sum(m["percentage"] for m in body["byModel"]) == pytest.approx(100)
    # Only `from`: up to today. from/to take precedence over period.
    body = (await user_client.get(f"/api/usage/summary?from={first}&period=7d")).json()
    assert len(body["dailyUsage"]) == 11
    assert body["stats"]["totalRequests"] == 4


async def test_24h_reads_the_rolling_window_from_the_raw_records(
    portal: Portal, user_client: httpx.AsyncClient, user: Any
) -> None:
    now = datetime.now(UTC)
    inside = now - timedelta(hours=2)
    await write(
        portal,
        record(user, created_at=inside, prompt_tokens=5, input_cost_micros=10_000),
        record(user, created_at=now - timedelta(hours=23), prompt_tokens=6),
        record(user, created_at=now - timedelta(hours=25), prompt_tokens=1000),
    )
    body = (await user_client.get("/api/usage/summary?period=24h")).json()
    assert body["stats"]["totalRequests"] == 2
    assert body["stats"]["inputTokens"] == 11
    assert body["stats"]["totalCost"] == 0.01
    yesterday, today_ = days_back(2)
    assert [d["date"] for d in body["dailyUsage"]] == [yesterday, today_]
    tokens_by_day = {d["date"]: d["tokens"] for d in body["dailyUsage"]}
    expected = {yesterday: 0, today_: 0}
    expected[inside.date().isoformat()] += 5
    expected[(now - timedelta(hours=23)).date().isoformat()] += 6
    assert tokens_by_day == expected


async def test_percentages_without_cost_use_token_shares_and_sum_to_100(
    portal: Portal, user_client: httpx.AsyncClient, user: Any
) -> None:
    await write(
        portal,
        record(user, model="a", prompt_tokens=1),
        record(user, model="b", prompt_tokens=1),
        record(user, model="c", prompt_tokens=1),
    )
    body = (await user_client.get("/api/usage/summary?period=7d")).json()
    shares = [m["percentage"] for m in body["byModel"]]
    assert shares == [33.4, 33.3, 33.3]
    assert body["stats"]["totalCost"] == 0


async def test_errors_without_tokens_or_cost_share_by_requests(
    portal: Portal, user_client: httpx.AsyncClient, user: Any
) -> None:
    await write(
        portal,
        record(user, model="a", status="error"),
        record(user, model="a", status="error"),
        record(user, model="b", status="error"),
    )
    body = (await user_client.get("/api/usage/summary?period=7d")).json()
    assert [(m["model"], m["percentage"]) for m in body["byModel"]] == [("a", 66.7), ("b", 33.3)]


async def test_empty_summary_has_zeros_for_every_day(user_client: httpx.AsyncClient) -> None:
    body = (await user_client.get("/api/usage/summary?period=7d")).json()
    assert body["stats"] == {
        "totalRequests": 0,
        "totalTokens": 0,
        "inputTokens": 0,
        "outputTokens": 0,
        "totalCost": 0,
        "avgResponseTime": 0,
        "errorCount": 0,
        "errorRate": 0,
    }
    assert len(body["dailyUsage"]) == 7
    assert body["byModel"] == []
    assert body["costBreakdown"]["total"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=5d", "period: must be one of 24h, 7d, 30d, 90d"),
        ("status=failed", "status: must be one of success, error"),
        ("from=2025-13-01", "from: must be a date as YYYY-MM-DD"),
        ("from=yesterday", "from: must be a date as YYYY-MM-DD"),
        ("from=2025-01-01&to=2025-1-5", "to: must be a date as YYYY-MM-DD"),
        ("to=2025-01-01", "from is required with to"),
        ("from=2025-02-01&to=2025-01-01", "to: must not be before from"),
        ("from=2023-01-01&to=2025-01-01", "to: the range may span at most 366 days"),
        ("apiKeyId=", "apiKeyId: must not be empty"),
        ("model=", "model: must not be empty"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    user_client: httpx.AsyncClient, query: str, message: str
) -> None:
    r = await user_client.get(f"/api/usage/summary?{query}")
    assert r.status_code == 400
    assert r.json() == {"error": message}


async def test_another_users_key_is_404_and_unknown_keys_too(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await seed(portal, user, await make_user())
    for key in ("key_other", "key_nobody"):
        r = await user_client.get(f"/api/usage/summary?apiKeyId={key}")
        assert r.status_code == 404
        assert r.json() == {"error": "API key not found"}


async def test_summary_needs_authentication(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/usage/summary")
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication required"}
    r = await client.get("/api/usage/summary", headers={"Authorization": "Bearer sk-live-nope"})
    assert r.status_code == 401


async def test_an_api_key_reads_its_owners_summary(
    portal: Portal,
    client: httpx.AsyncClient,
    user: Any,
    make_user: Callable[..., Any],
    key_for: KeyFactory,
) -> None:
    await seed(portal, user, await make_user())
    key = await key_for(user)
    r = await client.get("/api/usage/summary?period=7d", headers=key.headers)
    assert r.status_code == 200
    assert r.json()["stats"]["totalRequests"] == 3

"""GET /metrics: who may scrape it, and HTTP and limiter metrics moving with traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from llmportal.portal import Portal
from tests.conftest import BASE_URL
from tests.fixtures.metrics import scrape


@pytest.fixture
async def remote_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


async def test_loopback_may_scrape_without_a_token(client: httpx.AsyncClient) -> None:
    scraped = await scrape(client)
    assert "llmportal_http_requests_total" in scraped.text
    assert "llmportal_inflight_streams" in scraped.text


async def test_other_addresses_are_refused_without_a_token(
    remote_client: httpx.AsyncClient,
) -> None:
    r = await remote_client.get("/metrics")
    assert r.status_code == 403
    assert "loopback" in r.json()["error"]


async def test_token_is_required_when_configured(
    portal: Portal,
    client: httpx.AsyncClient,
    remote_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(portal.settings, "metrics_token", "metrics-s3cret-token")
    refused = await client.get("/metrics")
    assert refused.status_code == 401  # loopback is not enough now
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await remote_client.get("/metrics", headers=wrong)).status_code == 401
    basic = {"Authorization": "Basic bWV0cmljcy1zM2NyZXQtdG9rZW4="}
    assert (await remote_client.get("/metrics", headers=basic)).status_code == 401
    right = {"Authorization": "Bearer metrics-s3cret-token"}
    r = await remote_client.get("/metrics", headers=right)
    assert r.status_code == 200
    assert "llmportal_http_requests_total" in r.text


async def test_http_requests_are_counted_by_route_and_status(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/api/no/such/route")).status_code == 404
    assert (await client.get("/api/user/profile")).status_code == 401
    assert (await client.request("BREW", "/health/live")).status_code == 405
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    ok = {"method": "GET", "route": "/health/live"}
    assert delta("llmportal_http_requests_total", status="200", **ok) == 3
    assert delta("llmportal_http_request_duration_seconds_count", **ok) == 3
    assert delta("llmportal_http_requests_total", route="unmatched", status="404") == 1
    assert delta("llmportal_http_requests_total", route="/api/user/profile", status="401") == 1
    assert delta("llmportal_http_requests_total", method="OTHER", status="405") == 1
    assert "BREW" not in after.text
    # The raw path never becomes a label (unbounded label values would flood Prometheus).
    assert "/api/no/such/route" not in after.text


async def test_limiter_rejections_are_counted_by_kind(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    statuses = []
    for _ in range(21):  # the login limit is 20 attempts per IP in 5 minutes
        r = await client.post(
            "/api/auth/login", json={"email": "nobody@example.com", "password": "Wrong-pass-1!"}
        )
        statuses.append(r.status_code)
    assert statuses[-1] == 429
    after = await scrape(client)
    rejected = after.value("llmportal_limit_rejections_total", kind="login") - before.value(
        "llmportal_limit_rejections_total", kind="login"
    )
    assert rejected == statuses.count(429) == 1

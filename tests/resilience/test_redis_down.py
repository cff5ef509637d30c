"""Redis down: limits and quotas count in the process with one warning in the log,
/health/ready answers 200 "degraded", nothing answers 500; when Redis is back, it is used again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from llmportal.app import create_app
from llmportal.budgets.service import BudgetService
from llmportal.budgets.store import FallbackTallyStore
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.conftest import BASE_URL, make_settings
from tests.fixtures import factories
from tests.fixtures.upstreams import free_port
from tests.resilience.redis_server import RedisServer


@asynccontextmanager
async def portal_on_redis(
    redis_url: str, database_url: str, data: Path
) -> AsyncIterator[tuple[Portal, httpx.AsyncClient]]:
    application = create_app(make_settings(database_url, data, redis_url=redis_url))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50030))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield application.state.portal, client


async def _user_with_key(portal: Portal, client: httpx.AsyncClient, rpm: int) -> tuple[Any, str]:
    user = await factories.create_user(portal)
    await factories.login(client, user.email)
    r = await client.post("/api/keys", json={"name": "limited", "rpmLimit": rpm})
    assert r.status_code == 201, r.text
    return user, r.json()["key"]


async def _statuses(client: httpx.AsyncClient, secret: str, n: int) -> list[int]:
    headers = {"Authorization": f"Bearer {secret}"}
    return [(await client.get("/api/user/profile", headers=headers)).status_code for _ in range(n)]


async def _exists(server: RedisServer, key: str) -> bool:
    probe = Redis.from_url(server.url)
    try:
        return bool(await probe.exists(key))
    finally:
        await probe.aclose()


def _redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "llmportal.redis" and r.levelno == logging.WARNING
    ]


async def test_unreachable_redis_counts_limits_in_the_process(
    app: FastAPI, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmportal.redis")
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    async with portal_on_redis(nothing_listens, database_url, tmp_path) as (portal, client):
        user, secret = await _user_with_key(portal, client, rpm=2)
        assert await _statuses(client, secret, 3) == [200, 200, 429]

        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("error: ")

        # The plan's monthly tokens (Free: 1,000) hold per instance too.
        quota = portal.services["quota"]
        await quota.reserve(Principal(user=user), 900)
        with pytest.raises(PortalError) as refused:
            await quota.reserve(Principal(user=user), 200)
        assert refused.value.status == 429

    warnings = _redis_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "per-instance counting" in warnings[0]


async def test_redis_killed_then_restarted_is_used_again(
    app: FastAPI, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmportal.redis")
    server = RedisServer(tmp_path)
    server.start()
    try:
        async with portal_on_redis(server.url, database_url, tmp_path) as (portal, client):
            assert portal.redis_outage is not None
            portal.redis_outage.retry_after_s = 0.2
            user, secret = await _user_with_key(portal, client, rpm=3)
            key_id = (await client.get("/api/keys")).json()["keys"][0]["id"]
            bucket = f"{portal.settings.redis_prefix}rl:key-rpm:{key_id}"
            quota = portal.services["quota"]
            assert await _statuses(client, secret, 1) == [200]
            assert await _exists(server, bucket)  # counted in Redis
            await quota.reserve(Principal(user=user), 10)

            server.stop()
            # The instance's own window: 3 more pass, the 4th is refused, never a 500.
            assert await _statuses(client, secret, 4) == [200, 200, 200, 429]
            await quota.reserve(Principal(user=user), 10)
            ready = (await client.get("/health/ready")).json()
            assert ready["status"] == "degraded"

            server.start()
            await asyncio.sleep(0.3)
            assert await _statuses(client, secret, 1) == [200]
            assert await _exists(server, bucket)  # counted in Redis again
            await quota.reserve(Principal(user=user), 10)
            ready = (await client.get("/health/ready")).json()
            assert ready == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    finally:
        server.stop()
    warnings = _redis_warnings(caplog)
    assert len(warnings) == 2, warnings
    assert "unreachable" in warnings[0] and "reachable again" in warnings[1]


async def test_budgets_hold_in_the_process_while_redis_is_down_and_reload_after(
    database_url: str, tmp_path: Path
) -> None:
    """A budget keeps refusing with Redis away (tallies in the process, from the database);
    when Redis is back the tallies counted meanwhile are dropped there and reload."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        async with portal_on_redis(server.url, database_url, tmp_path) as (portal, client):
            user = await factories.create_user(portal)
            await factories.login(client, user.email)
            r = await client.patch("/api/user/profile", json={"maxBudget": 0.01})
            assert r.status_code == 200, r.text
            assert portal.redis_outage is not None
            portal.redis_outage.retry_after_s = 0.2
            budgets: BudgetService = portal.services["budgets"]
            assert isinstance(budgets.store, FallbackTallyStore)
            async with portal.sessionmaker() as db:
                row = await db.get(User, user.id)
            scopes = budgets.scopes(Principal(user=row))
            hold, _ = await budgets.reserve(scopes, 4_000, 0, 0)
            await budgets.settle(hold, 4_000)  # in Redis
            server.stop()
            # Redis away: the tally starts from the database (nothing recorded yet) and holds.
            hold, _ = await budgets.reserve(scopes, 9_000, 0, 0)
            with pytest.raises(PortalError) as refused:
                await budgets.reserve(scopes, 2_000, 0, 0)
            assert refused.value.status == 429
            await budgets.release(hold)
            tally_key = portal.settings.redis_prefix + "budget:" + budgets.tally(scopes[0]).key
            server.start()
            await asyncio.sleep(0.3)
            assert await _exists(server, tally_key) is False  # the restarted Redis is empty
            assert await budgets.spend(scopes[0]) == 0  # reloaded from the database
            assert await _exists(server, tally_key)
    finally:
        server.stop()

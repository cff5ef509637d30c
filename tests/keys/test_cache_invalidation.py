"""With Redis, each instance caches key lookups (no query per request) and forgets them as soon as
any instance changes a key or its user (milliseconds, well inside the cache's 1 s TTL); while the
channel is down it does not trust its cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from llmportal.app import create_app
from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.conftest import BASE_URL, make_settings
from tests.fixtures import factories
from tests.fixtures.portal_process import Served, fake_portal_toml, portal_env
from tests.fixtures.upstreams import free_port
from tests.resilience.redis_server import RedisServer

SECRET_KEY = "test-secret-key-test-secret-key-1234"  # make_settings' own: one key digest


@dataclass
class Pair:
    """Instance a in this process (for the writes), instance b a `llmportal serve` of its own:
    two processes, as two instances are, so nothing but Redis tells b of a's writes."""

    a: Portal
    ca: httpx.AsyncClient
    cb: httpx.AsyncClient
    redis: RedisServer


@asynccontextmanager
async def two_instances(database_url: str, tmp: Path) -> AsyncIterator[Pair]:
    redis = RedisServer(tmp)
    redis.start()
    config = tmp / "portal.toml"
    config.write_text(fake_portal_toml("http://127.0.0.1:9", "unused"))
    port = free_port()
    env = portal_env(tmp / "b", database_url, port, config, REDIS_URL=redis.url)
    env |= {"LLMPORTAL_REDIS_PREFIX": "inv:", "LLMPORTAL_SECRET_KEY": SECRET_KEY}
    b = Served(env, tmp / "b.log")
    try:
        b.start()
        application = create_app(
            make_settings(database_url, tmp / "a", redis_url=redis.url, redis_prefix="inv:")
        )
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50040))
            async with (
                httpx.AsyncClient(transport=transport, base_url=BASE_URL) as ca,
                httpx.AsyncClient(base_url=b.url, timeout=10) as cb,
            ):
                yield Pair(application.state.portal, ca, cb, redis)
    finally:
        b.stop()
        redis.stop()


async def _key(portal: Portal, client: httpx.AsyncClient) -> tuple[Any, str, str]:
    user = await factories.create_user(portal)
    await factories.login(client, user.email)
    r = await client.post("/api/keys", json={"name": "cached"})
    assert r.status_code == 201, r.text
    return user, r.json()["id"], r.json()["key"]


async def _profile(client: httpx.AsyncClient, secret: str) -> tuple[int, Any]:
    r = await client.get("/api/user/profile", headers={"Authorization": f"Bearer {secret}"})
    return r.status_code, r.json()


async def _listed(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, Any]:
    r = await client.get("/v1/models", headers=headers)
    return r.status_code, r.json()


async def _soon(ask: Callable[[], Awaitable[Any]], expected: Any) -> None:
    """b hears a's broadcast asynchronously (Redis, then its listener task), so on a loaded
    machine the next request may beat it by a few milliseconds: wait for the answer up to 0.5 s,
    half the cache's 1 s TTL, so only the broadcast (never the TTL) can explain it."""
    deadline = time.monotonic() + 0.5
    for _ in range(50):
        if (got := await ask()) == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert got == expected


async def _revoke_behind_the_portals_back(portal: Portal, key_id: str) -> None:
    # Plain SQL: no ORM event, so no instance is told (as a write by another tool would be).
    async with transaction(portal.sessionmaker) as db:
        await db.execute(
            text("UPDATE api_keys SET status = 'REVOKED' WHERE id = :id"), {"id": key_id}
        )


async def test_a_revoke_on_one_instance_is_refused_by_the_other_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with two_instances(database_url, tmp_path) as pair:
        _, key_id, secret = await _key(pair.a, pair.ca)
        # The user's and key's creation were broadcast: one b heard late would empty its cache
        # after the fill below (seen on a loaded machine), so let b hear them first.
        await asyncio.sleep(0.2)
        assert (await _profile(pair.cb, secret))[0] == 200  # now in b's cache
        # b answers from its cache: a change nobody announced is not seen yet ...
        await _revoke_behind_the_portals_back(pair.a, key_id)
        assert (await _profile(pair.cb, secret))[0] == 200
        # ... and is within the cache's second.
        await asyncio.sleep(1.1)
        assert await _profile(pair.cb, secret) == (401, {"error": "API key revoked"})

        _, key_id, secret = await _key(pair.a, pair.ca)
        assert (await _profile(pair.cb, secret))[0] == 200
        r = await pair.ca.post(f"/api/keys/{key_id}/revoke", json={"reason": "leaked"})
        assert r.status_code == 200, r.text
        await _soon(lambda: _profile(pair.cb, secret), (401, {"error": "API key revoked"}))


async def test_a_suspension_on_one_instance_is_refused_by_the_other_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with two_instances(database_url, tmp_path) as pair:
        user, _, secret = await _key(pair.a, pair.ca)
        assert (await _profile(pair.cb, secret))[0] == 200
        async with transaction(pair.a.sessionmaker) as db:  # as the admin service does
            row = await db.get(User, user.id)
            assert row is not None
            row.status = "SUSPENDED"
        await _soon(lambda: _profile(pair.cb, secret), (403, {"error": "Account suspended"}))


async def test_without_the_channel_no_lookup_is_served_from_the_cache(
    database_url: str, tmp_path: Path
) -> None:
    async with two_instances(database_url, tmp_path) as pair:
        _, key_id, secret = await _key(pair.a, pair.ca)
        assert (await _profile(pair.cb, secret))[0] == 200  # cached by b, for a second
        pair.redis.stop()  # b's listener loses its subscription: its cache is not trusted
        await asyncio.sleep(0.2)
        await _revoke_behind_the_portals_back(pair.a, key_id)
        # Redis is away (limits count in the process); b reads the key from the database.
        assert await _profile(pair.cb, secret) == (401, {"error": "API key revoked"})


async def test_a_model_list_change_on_one_instance_applies_on_the_other_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with two_instances(database_url, tmp_path) as pair:
        _, key_id, secret = await _key(pair.a, pair.ca)
        headers = {"Authorization": f"Bearer {secret}"}

        async def listed_by_b() -> list[str]:
            r = await pair.cb.get("/v1/models", headers=headers)
            assert r.status_code == 200, r.text
            return [m["id"] for m in r.json()["data"]]

        assert await listed_by_b() == ["oa-unused"]  # now in b's cache
        r = await pair.ca.patch(f"/api/keys/{key_id}", json={"models": ["other-*"]})
        assert r.status_code == 200, r.text
        await _soon(listed_by_b, [])
        body = {"model": "oa-unused", "messages": [{"role": "user", "content": "hi"}]}
        r = await pair.cb.post("/v1/chat/completions", json=body, headers=headers)
        assert (r.status_code, r.json()) == (
            403,
            {"error": "Model 'oa-unused' is not allowed for this API key"},
        )
        r = await pair.ca.patch(f"/api/keys/{key_id}", json={"models": ["oa-*"]})
        assert r.status_code == 200, r.text
        await _soon(listed_by_b, ["oa-unused"])


async def test_org_key_changes_on_one_instance_are_refused_by_the_other_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with two_instances(database_url, tmp_path) as pair:
        user = await factories.create_user(pair.a)
        await factories.login(pair.ca, user.email)
        org = (await pair.ca.post("/api/orgs", json={"name": "Acme"})).json()
        keys = f"/api/orgs/{org['id']}/keys"
        created = (await pair.ca.post(keys, json={"name": "shared"})).json()
        models = {"Authorization": f"Bearer {created['key']}"}
        assert (await pair.cb.get("/v1/models", headers=models)).status_code == 200  # cached
        r = await pair.ca.post(f"{keys}/{created['id']}/revoke", json={"reason": "leaked"})
        assert r.status_code == 200, r.text
        await _soon(lambda: _listed(pair.cb, models), (401, {"error": "API key revoked"}))

        other = (await pair.ca.post(keys, json={"name": "second"})).json()
        models = {"Authorization": f"Bearer {other['key']}"}
        assert (await pair.cb.get("/v1/models", headers=models)).status_code == 200
        assert (await pair.ca.delete(f"/api/orgs/{org['id']}")).status_code == 200
        await _soon(lambda: _listed(pair.cb, models), (401, {"error": "Invalid API key"}))

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update

from llmportal.db import transaction
from llmportal.keys.models import ApiKey
from llmportal.keys.secrets import generate_secret
from llmportal.portal import Portal
from llmportal.security.clientip import parse_networks
from llmportal.users.models import User
from tests.conftest import BASE_URL
from tests.keys.helpers import bearer, create_key


@asynccontextmanager
async def peer(app: FastAPI, host: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client without a session, seen by the portal as connecting from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 1234))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


@contextmanager
def sql_log(portal: Portal) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(portal.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(portal.engine.sync_engine, "before_cursor_execute", record)


async def _set(portal: Portal, key_id: str, **values: Any) -> None:
    async with transaction(portal.sessionmaker) as db:
        await db.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))


async def test_bearer_key_authenticates_as_its_owner(
    app: FastAPI, user_client: httpx.AsyncClient, user: Any
) -> None:
    key = await create_key(user_client)
    async with peer(app) as c:
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
        assert r.status_code == 200
        assert r.json()["email"] == user.email
        r = await c.get("/api/user/profile", headers={"x-api-key": key["key"]})
        assert r.status_code == 200
        assert r.json()["id"] == user.id


async def test_revoked_key_is_refused(app: FastAPI, user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    await user_client.post(f"/api/keys/{key['id']}/revoke", json={"reason": "gone"})
    async with peer(app) as c:
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 401
    assert r.json() == {"error": "API key revoked"}


async def test_expired_key_is_refused(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal
) -> None:
    key = await create_key(user_client, expiresInDays=7)
    async with peer(app) as c:
        assert (await c.get("/api/user/profile", headers=bearer(key["key"]))).status_code == 200
        await _set(portal, key["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 401
    assert r.json() == {"error": "API key expired"}


async def test_regenerated_key_kills_the_old_secret(
    app: FastAPI, user_client: httpx.AsyncClient
) -> None:
    key = await create_key(user_client)
    new = (await user_client.post(f"/api/keys/{key['id']}/regenerate")).json()["key"]
    async with peer(app) as c:
        old = await c.get("/api/user/profile", headers=bearer(key["key"]))
        assert old.status_code == 401
        assert old.json() == {"error": "Invalid API key"}
        assert (await c.get("/api/user/profile", headers=bearer(new))).status_code == 200


def _bad_checksum(secret: str) -> str:
    last = secret[-1]
    return secret[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "make_token",
    [
        lambda s: "garbage",
        lambda s: "sk-live-short",
        lambda s: s[:-1],
        lambda s: s + "x",
        lambda s: s.replace("sk-live-", "sk-test-"),
        lambda s: s[:20] + "!" + s[21:],
        _bad_checksum,
    ],
    ids=["garbage", "short", "truncated", "too-long", "wrong-prefix", "bad-char", "checksum"],
)
async def test_malformed_keys_are_refused_without_a_database_lookup(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal, make_token: Any
) -> None:
    key = await create_key(user_client)
    token = make_token(key["key"])
    async with peer(app) as c:
        with sql_log(portal) as statements:
            r = await c.get("/api/user/profile", headers=bearer(token))
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid API key"}
    assert not [s for s in statements if "api_keys" in s]


async def test_unknown_well_formed_key_is_looked_up_and_refused(
    app: FastAPI, portal: Portal
) -> None:
    async with peer(app) as c:
        with sql_log(portal) as statements:
            r = await c.get("/api/user/profile", headers=bearer(generate_secret()))
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid API key"}
    assert [s for s in statements if "api_keys" in s]


async def test_suspended_owner_cannot_use_a_key(
    app: FastAPI, user_client: httpx.AsyncClient, user: Any, portal: Portal
) -> None:
    key = await create_key(user_client)
    async with transaction(portal.sessionmaker) as db:
        await db.execute(update(User).where(User.id == user.id).values(status="SUSPENDED"))
    async with peer(app) as c:
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 403
    assert r.json() == {"error": "Account suspended"}


@pytest.mark.parametrize(
    ("whitelist", "host", "allowed"),
    [
        (["203.0.113.0/24"], "203.0.113.5", True),
        (["203.0.113.0/24"], "203.0.114.5", False),
        (["198.51.100.7"], "198.51.100.7", True),
        (["198.51.100.7"], "198.51.100.8", False),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::5", False),
        (["203.0.113.0/24"], "::ffff:203.0.113.9", True),
        (["203.0.113.0/24", "2001:db8::1"], "2001:db8::1", True),
    ],
)
async def test_ip_whitelist(
    app: FastAPI,
    user_client: httpx.AsyncClient,
    whitelist: list[str],
    host: str,
    allowed: bool,
) -> None:
    key = await create_key(user_client, ipWhitelist=whitelist)
    async with peer(app, host) as c:
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    if allowed:
        assert r.status_code == 200
    else:
        assert r.status_code == 403
        assert r.json() == {"error": f"Requests from {host} are not allowed for this API key"}


async def test_ip_whitelist_behind_trusted_proxy(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal, monkeypatch: Any
) -> None:
    monkeypatch.setattr(portal, "trusted_proxies", parse_networks(["10.0.0.0/8"]))
    key = await create_key(user_client, ipWhitelist=["203.0.113.0/24"])
    headers = bearer(key["key"])
    async with peer(app, "10.1.2.3") as c:
        ok = await c.get("/api/user/profile", headers={**headers, "X-Forwarded-For": "203.0.113.9"})
        assert ok.status_code == 200
        chain = "203.0.113.9, 10.0.0.7"
        ok = await c.get("/api/user/profile", headers={**headers, "X-Forwarded-For": chain})
        assert ok.status_code == 200
        bad = await c.get("/api/user/profile", headers={**headers, "X-Forwarded-For": "192.0.2.1"})
        assert bad.status_code == 403
        spoof = "203.0.113.9, 192.0.2.1"  # the client prepended an allowed address
        bad = await c.get("/api/user/profile", headers={**headers, "X-Forwarded-For": spoof})
        assert bad.status_code == 403
    # An untrusted peer's X-Forwarded-For is ignored.
    async with peer(app, "192.0.2.50") as c:
        r = await c.get("/api/user/profile", headers={**headers, "X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 403
        assert r.json() == {"error": "Requests from 192.0.2.50 are not allowed for this API key"}


async def test_rpm_limit(app: FastAPI, user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, rpmLimit=3)
    async with peer(app) as c:
        for remaining in (2, 1, 0):
            r = await c.get("/api/user/profile", headers=bearer(key["key"]))
            assert r.status_code == 200
            assert r.headers["X-RateLimit-Limit"] == "3"
            assert r.headers["X-RateLimit-Remaining"] == str(remaining)
            assert "Retry-After" not in r.headers
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 429
    assert r.json() == {"error": "Rate limit exceeded"}
    assert r.headers["X-RateLimit-Limit"] == "3"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # The browser session of the same user is not limited by the key's rpm.
    assert (await user_client.get("/api/user/profile")).status_code == 200


async def test_rpm_limit_is_per_key_and_headers_only_when_limited(
    app: FastAPI, client: httpx.AsyncClient, make_user: Any
) -> None:
    from tests.fixtures.factories import login

    pro = await make_user(plan="PRO")
    await login(client, pro.email)
    limited = await create_key(client, rpmLimit=1)
    free = await create_key(client)
    async with peer(app) as c:
        assert (await c.get("/api/user/profile", headers=bearer(limited["key"]))).status_code == 200
        assert (await c.get("/api/user/profile", headers=bearer(limited["key"]))).status_code == 429
        r = await c.get("/api/user/profile", headers=bearer(free["key"]))
    assert r.status_code == 200
    assert "X-RateLimit-Limit" not in r.headers


async def test_last_used_without_a_write_per_request(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal
) -> None:
    key = await create_key(user_client)
    async with peer(app) as c, portal.sessionmaker() as db:
        with sql_log(portal) as statements:
            for _ in range(5):
                r = await c.get("/api/user/profile", headers=bearer(key["key"]))
                assert r.status_code == 200
        assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        stored = await db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key["id"]))
        assert stored is None
    # Shown at once by this instance, written by the periodic flush.
    shown = (await user_client.get(f"/api/keys/{key['id']}")).json()["lastUsedAt"]
    assert shown is not None
    await portal.services["key_last_used"].flush()
    async with portal.sessionmaker() as db:
        stored = await db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key["id"]))
    assert stored is not None
    assert stored.strftime("%Y-%m-%dT%H:%M:%SZ") == shown
    listed = (await user_client.get("/api/keys")).json()["keys"][0]
    assert listed["lastUsedAt"] == shown


async def test_known_key_is_cached_until_a_change(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal, user: Any
) -> None:
    key = await create_key(user_client)
    async with peer(app) as c:
        assert (await c.get("/api/user/profile", headers=bearer(key["key"]))).status_code == 200
        with sql_log(portal) as statements:
            r = await c.get("/api/user/profile", headers=bearer(key["key"]))
        assert r.status_code == 200
        # Served from the cache, with Redis too (other instances' writes are announced there).
        assert not [s for s in statements if "api_keys" in s]
        # A change to the owner, made through any session, applies to the very next request.
        async with transaction(portal.sessionmaker) as db:
            owner = (await db.execute(select(User).where(User.id == user.id))).scalar_one()
            owner.status = "SUSPENDED"
        r = await c.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 403
    assert r.json() == {"error": "Account suspended"}


async def test_requests_arriving_during_a_lookup_share_it(
    app: FastAPI, user_client: httpx.AsyncClient, portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmportal.keys import auth

    key = await create_key(user_client)
    lookups = 0
    real = auth._lookup

    async def slow_lookup(db: Any, digest: str) -> Any:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.2)  # the window in which the other requests arrive
        return await real(db, digest)

    monkeypatch.setattr(auth, "_lookup", slow_lookup)
    async with peer(app) as c:
        replies = await asyncio.gather(
            *(c.get("/api/user/profile", headers=bearer(key["key"])) for _ in range(8))
        )
        assert [r.status_code for r in replies] == [200] * 8
        assert lookups == 1
        # A key that does not exist is refused for each caller, each with its own lookup.
        wrong = bearer(generate_secret())
        replies = await asyncio.gather(
            *(c.get("/api/user/profile", headers=wrong) for _ in range(3))
        )
    assert [r.status_code for r in replies] == [401] * 3

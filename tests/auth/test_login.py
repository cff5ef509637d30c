from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from llmportal.db import utcnow
from llmportal.portal import Portal
from tests.auth.helpers import client_from, set_user
from tests.fixtures.factories import PASSWORD, login


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_login_answers_the_profile_and_sets_a_safe_cookie(
    client: httpx.AsyncClient, user: Any
) -> None:
    r = await _login(client, user.email.upper())
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == user.id
    assert body["email"] == user.email
    assert body["twoFactorEnabled"] is False
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("llmportal_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # PUBLIC_URL is http:// in tests
    assert r.headers["X-RateLimit-Limit"] == "20"
    assert (await client.get("/api/user/profile")).json()["id"] == user.id


async def test_unknown_email_and_wrong_password_get_one_message(
    client: httpx.AsyncClient, user: Any
) -> None:
    wrong = await _login(client, user.email, "Wrong-Password-123!")
    unknown = await _login(client, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Invalid email or password"}
    assert "set-cookie" not in wrong.headers


async def test_unverified_and_suspended_accounts(
    client: httpx.AsyncClient, make_user: Any, portal: Portal
) -> None:
    unverified = await make_user(verified=False)
    r = await _login(client, unverified.email)
    assert r.status_code == 403
    assert r.json() == {"error": "Email not verified"}
    # A wrong password reveals nothing about verification.
    assert (await _login(client, unverified.email, "Wrong-Password-123!")).status_code == 401
    suspended = await make_user()
    await set_user(portal, suspended.email, status="SUSPENDED")
    r = await _login(client, suspended.email)
    assert r.status_code == 403
    assert r.json() == {"error": "Account suspended"}


async def test_validation_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/login", json={"password": PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "email is required"}
    r = await client.post("/api/auth/login", json={"email": "a@example.com", "password": 1})
    assert r.status_code == 400
    assert r.json()["error"].startswith("password: ")


async def test_account_locks_after_repeated_failures(
    app: FastAPI, user: Any, portal: Portal
) -> None:
    max_failures = portal.settings.login_max_failures
    # Spread over several addresses so the per-IP limit is not what stops them.
    for i in range(max_failures - 1):
        async with client_from(app, f"198.51.100.{i + 1}") as c:
            r = await _login(c, user.email, "Wrong-Password-123!")
            assert r.status_code == 401
    async with client_from(app, "203.0.113.1") as c:
        r = await _login(c, user.email, "Wrong-Password-123!")
        assert r.status_code == 429
        assert "locked" in r.json()["error"]
        minutes = portal.settings.login_lockout_minutes
        assert int(r.headers["Retry-After"]) == minutes * 60
        # Locked: even the right password is refused, with the time left.
        r = await _login(c, user.email)
        assert r.status_code == 429
        assert 0 < int(r.headers["Retry-After"]) <= minutes * 60
        # Time travel past the lockout: the right password works, and the count starts over.
        await set_user(portal, user.email, locked_until=utcnow() - timedelta(seconds=1))
        assert (await _login(c, user.email)).status_code == 200
        assert (await _login(c, user.email, "Wrong-Password-123!")).status_code == 401


async def test_success_resets_the_failure_count(app: FastAPI, user: Any, portal: Portal) -> None:
    async with client_from(app, "198.51.100.50") as c:
        for _ in range(portal.settings.login_max_failures - 1):
            assert (await _login(c, user.email, "Wrong-Password-123!")).status_code == 401
        assert (await _login(c, user.email)).status_code == 200
        assert (await _login(c, user.email, "Wrong-Password-123!")).status_code == 401


async def test_login_is_rate_limited_per_ip(client: httpx.AsyncClient, app: FastAPI) -> None:
    for _ in range(20):
        assert (await _login(client, "nobody@example.com")).status_code == 401
    r = await _login(client, "nobody@example.com")
    assert r.status_code == 429
    assert r.json()["error"].startswith("Too many login attempts")
    assert int(r.headers["Retry-After"]) > 0
    assert r.headers["X-RateLimit-Remaining"] == "0"
    async with client_from(app, "192.0.2.99") as elsewhere:
        assert (await _login(elsewhere, "nobody@example.com")).status_code == 401


async def test_logout_ends_the_session_server_side(client: httpx.AsyncClient, user: Any) -> None:
    await login(client, user.email)
    cookie = client.cookies.get("llmportal_session")
    assert cookie
    r = await client.post("/api/auth/logout")
    assert r.status_code == 200
    assert r.json() == {"success": True}
    assert (
        'llmportal_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    )
    # Replaying the old cookie is refused.
    client.cookies.set("llmportal_session", cookie)
    assert (await client.get("/api/user/profile")).status_code == 401


async def test_logout_needs_a_session(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/logout")
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication required"}
    client.cookies.set("llmportal_session", "forged")
    assert (await client.post("/api/auth/logout")).status_code == 401


async def test_expired_session_is_refused(
    client: httpx.AsyncClient, user: Any, portal: Portal
) -> None:
    from sqlalchemy import update

    from llmportal.auth.models import AuthSession
    from llmportal.db import transaction

    await login(client, user.email)
    async with transaction(portal.sessionmaker) as db:
        await db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get("/api/user/profile")).status_code == 401


async def test_rate_limit_headers_on_error_answers_too(client: httpx.AsyncClient) -> None:
    r = await _login(client, "nobody@example.com")
    assert r.status_code == 401
    assert r.headers["X-RateLimit-Limit"] == "20"
    assert r.headers["X-RateLimit-Remaining"] == "19"
    r = await client.post("/api/auth/login", json={})
    assert r.status_code == 400


async def test_cookie_is_secure_behind_https(
    database_url: str, settings: Any, user: Any, portal: Portal
) -> None:
    from pathlib import Path

    from asgi_lifespan import LifespanManager

    from llmportal.app import create_app
    from tests.conftest import make_settings

    https = make_settings(
        database_url, Path(settings.data_dir), public_url="https://portal.example.com"
    )
    app = create_app(https)
    async with LifespanManager(app), client_from(app, "192.0.2.44") as c:
        r = await _login(c, user.email)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


async def test_openapi_lists_the_account_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/auth/register",
        "/api/auth/verify-email",
        "/api/auth/resend-verification",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/2fa/setup",
        "/api/auth/2fa/verify",
        "/api/auth/2fa/disable",
        "/api/user/profile",
        "/api/user/password",
    ):
        assert path in paths

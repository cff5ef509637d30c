from __future__ import annotations

from typing import Any

import httpx

from llmportal.portal import Portal
from tests.auth.helpers import expire_tokens, set_user
from tests.fixtures.factories import PASSWORD, login
from tests.fixtures.outbox import Outbox

NEW_PASSWORD = "Brand-New-Passw0rd!"


async def test_forgot_mails_a_reset_link(
    client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    r = await client.post("/api/auth/forgot-password", json={"email": user.email})
    assert r.status_code == 200
    assert r.json()["success"] is True
    assert r.headers["X-RateLimit-Limit"] == "3"
    msg = outbox.last(user.email)
    assert msg["Subject"] == "Reset your password"
    assert outbox.link(user.email, "reset-password").startswith(
        "http://127.0.0.1:8000/reset-password?token="
    )


async def test_forgot_answers_the_same_for_unknown_emails(
    client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    known = await client.post("/api/auth/forgot-password", json={"email": user.email})
    unknown = await client.post("/api/auth/forgot-password", json={"email": "no@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert outbox.messages("no@example.com") == []


async def test_reset_changes_the_password_and_ends_every_session(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    await login(other_client, user.email)
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    token = outbox.token(user.email, "reset-password")
    r = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200
    assert r.json() == {"success": True}
    assert (await other_client.get("/api/user/profile")).status_code == 401
    old = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    await login(client, user.email, NEW_PASSWORD)


async def test_reset_token_works_once(client: httpx.AsyncClient, user: Any, outbox: Outbox) -> None:
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    token = outbox.token(user.email, "reset-password")
    body = {"token": token, "password": NEW_PASSWORD}
    assert (await client.post("/api/auth/reset-password", json=body)).status_code == 200
    again = await client.post(
        "/api/auth/reset-password", json={**body, "password": "An0ther-one!!"}
    )
    assert again.status_code == 400
    assert again.json() == {"error": "Invalid or already used password reset token"}
    await login(client, user.email, NEW_PASSWORD)


async def test_newer_reset_link_retires_the_older(
    client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    old = outbox.token(user.email, "reset-password")
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    r = await client.post("/api/auth/reset-password", json={"token": old, "password": NEW_PASSWORD})
    assert r.status_code == 400


async def test_expired_reset_token_is_refused(
    client: httpx.AsyncClient, user: Any, outbox: Outbox, portal: Portal
) -> None:
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    token = outbox.token(user.email, "reset-password")
    await expire_tokens(portal, "RESET_PASSWORD")
    r = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "This password reset token has expired; request a new one"}
    await login(client, user.email)  # the password is unchanged


async def test_weak_password_keeps_the_token_usable(
    client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    token = outbox.token(user.email, "reset-password")
    weak = await client.post("/api/auth/reset-password", json={"token": token, "password": "weak"})
    assert weak.status_code == 400
    assert weak.json() == {"error": "Password must be at least 12 characters"}
    ok = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert ok.status_code == 200


async def test_reset_validation(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/reset-password", json={"password": NEW_PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "token is required"}
    r = await client.post("/api/auth/reset-password", json={"token": "t"})
    assert r.status_code == 400
    assert r.json() == {"error": "password is required"}
    r = await client.post("/api/auth/reset-password", json={"token": "t", "password": NEW_PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "Invalid or already used password reset token"}
    r = await client.post("/api/auth/forgot-password", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "email is required"}


async def test_reset_lifts_a_lockout_and_verifies_the_address(
    client: httpx.AsyncClient, make_user: Any, outbox: Outbox, portal: Portal
) -> None:
    from llmportal.db import utcnow

    u = await make_user(verified=False)
    await set_user(portal, u.email, failed_logins=3, locked_until=utcnow().replace(year=2100))
    await client.post("/api/auth/forgot-password", json={"email": u.email})
    token = outbox.token(u.email, "reset-password")
    r = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200
    assert (await login(client, u.email, NEW_PASSWORD))["emailVerified"] is True


async def test_forgot_is_rate_limited_to_3_per_15_minutes(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        r = await client.post("/api/auth/forgot-password", json={"email": "x@example.com"})
        assert r.status_code == 200
    r = await client.post("/api/auth/forgot-password", json={"email": "x@example.com"})
    assert r.status_code == 429
    assert r.json()["error"].startswith("Too many password reset requests")
    assert 0 < int(r.headers["Retry-After"]) <= 900
    assert r.headers["X-RateLimit-Limit"] == "3"
    assert r.headers["X-RateLimit-Remaining"] == "0"

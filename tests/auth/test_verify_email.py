from __future__ import annotations

import httpx

from llmportal.portal import Portal
from tests.auth.helpers import expire_tokens, register
from tests.fixtures.factories import login
from tests.fixtures.outbox import Outbox


async def _registered(client: httpx.AsyncClient, outbox: Outbox) -> tuple[str, str]:
    email = (await register(client)).json()["email"]
    return email, outbox.token(email, "verify-email")


async def test_verify_email_then_log_in(client: httpx.AsyncClient, outbox: Outbox) -> None:
    email, token = await _registered(client, outbox)
    r = await client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 200
    assert r.json() == {"success": True, "email": email, "emailVerified": True}
    assert (await login(client, email))["emailVerified"] is True


async def test_token_works_once(client: httpx.AsyncClient, outbox: Outbox) -> None:
    _, token = await _registered(client, outbox)
    assert (await client.post("/api/auth/verify-email", json={"token": token})).status_code == 200
    again = await client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json() == {"error": "Invalid or already used verification token"}


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, outbox: Outbox, portal: Portal
) -> None:
    email, token = await _registered(client, outbox)
    await expire_tokens(portal, "VERIFY_EMAIL")
    r = await client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 400
    assert r.json()["error"] == "This verification token has expired; request a new one"
    denied = await client.post("/api/auth/login", json={"email": email, "password": "x"})
    assert denied.status_code == 401


async def test_unknown_and_missing_tokens(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/verify-email", json={"token": "nope"})
    assert r.status_code == 400
    assert r.json() == {"error": "Invalid or already used verification token"}
    r = await client.post("/api/auth/verify-email", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "token is required"}
    r = await client.post("/api/auth/verify-email", json={"token": ""})
    assert r.status_code == 400
    assert r.json()["error"].startswith("token: ")


async def test_reset_token_does_not_verify_email(client: httpx.AsyncClient, outbox: Outbox) -> None:
    email, _ = await _registered(client, outbox)
    await client.post("/api/auth/forgot-password", json={"email": email})
    reset = outbox.token(email, "reset-password")
    r = await client.post("/api/auth/verify-email", json={"token": reset})
    assert r.status_code == 400


async def test_resend_sends_a_new_link_and_retires_the_old_one(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    email, old = await _registered(client, outbox)
    r = await client.post("/api/auth/resend-verification", json={"email": email})
    assert r.status_code == 200
    new = outbox.token(email, "verify-email")
    assert new != old
    assert (await client.post("/api/auth/verify-email", json={"token": old})).status_code == 400
    assert (await client.post("/api/auth/verify-email", json={"token": new})).status_code == 200


async def test_resend_answers_the_same_whether_or_not_the_email_exists(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, outbox: Outbox, user: object
) -> None:
    email, _ = await _registered(client, outbox)
    unverified = await client.post("/api/auth/resend-verification", json={"email": email})
    unknown = await client.post(
        "/api/auth/resend-verification", json={"email": "nobody@example.com"}
    )
    verified = await other_client.post(
        "/api/auth/resend-verification",
        json={"email": user.email},  # type: ignore[attr-defined]
    )
    assert unverified.status_code == unknown.status_code == verified.status_code == 200
    assert unverified.json() == unknown.json() == verified.json()
    assert unverified.json()["success"] is True
    assert outbox.messages("nobody@example.com") == []
    assert outbox.messages(user.email) == []  # type: ignore[attr-defined]
    assert len(outbox.messages(email)) == 2


async def test_resend_validation(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/resend-verification", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "email is required"}
    r = await client.post("/api/auth/resend-verification", json={"email": "bad"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("email: ")


async def test_resend_is_rate_limited_to_3_per_5_minutes(client: httpx.AsyncClient) -> None:
    for i in range(3):
        r = await client.post("/api/auth/resend-verification", json={"email": "x@example.com"})
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["X-RateLimit-Remaining"] == str(2 - i)
    r = await client.post("/api/auth/resend-verification", json={"email": "x@example.com"})
    assert r.status_code == 429
    assert r.json()["error"].startswith("Too many verification emails requested")
    assert 0 < int(r.headers["Retry-After"]) <= 300
    assert r.headers["X-RateLimit-Limit"] == "3"

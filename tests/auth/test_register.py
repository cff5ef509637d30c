from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.auth.helpers import client_from, register
from tests.fixtures.factories import PASSWORD, login
from tests.fixtures.outbox import Outbox


async def test_register_answers_201_and_mails_a_verification_link(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    r = await register(client, email="Ada@Example.com")
    assert r.status_code == 201
    body = r.json()
    assert body == {
        "id": body["id"],
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "requiresVerification": True,
    }
    assert body["id"].startswith("c")
    msg = outbox.last("ada@example.com")
    assert msg["Subject"] == "Verify your email address"
    assert msg["From"] == "LLM Portal <no-reply@localhost>"
    link = outbox.link("ada@example.com", "verify-email")
    assert link.startswith("http://127.0.0.1:8000/verify-email?token=")
    assert link in outbox.html(msg)


async def test_first_registered_user_is_admin_when_no_admin_exists(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    first = await register(client)
    second = await register(client)
    t1 = outbox.token(first.json()["email"], "verify-email")
    t2 = outbox.token(second.json()["email"], "verify-email")
    await client.post("/api/auth/verify-email", json={"token": t1})
    await client.post("/api/auth/verify-email", json={"token": t2})
    assert (await login(client, first.json()["email"]))["role"] == "ADMIN"
    assert (await login(client, second.json()["email"]))["role"] == "USER"


async def test_registered_user_is_not_admin_when_an_admin_exists(
    client: httpx.AsyncClient, make_user: Any, outbox: Outbox
) -> None:
    await make_user(admin=True)
    r = await register(client)
    await client.post(
        "/api/auth/verify-email", json={"token": outbox.token(r.json()["email"], "verify-email")}
    )
    assert (await login(client, r.json()["email"]))["role"] == "USER"


async def test_unverified_user_cannot_log_in(client: httpx.AsyncClient) -> None:
    r = await register(client)
    login_r = await client.post(
        "/api/auth/login", json={"email": r.json()["email"], "password": PASSWORD}
    )
    assert login_r.status_code == 403
    assert login_r.json() == {"error": "Email not verified"}


async def test_duplicate_email_is_409(client: httpx.AsyncClient, user: Any) -> None:
    r = await register(client, email=user.email.upper())
    assert r.status_code == 409
    assert r.json() == {"error": "An account with this email already exists"}


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"password": PASSWORD}, "email is required"),
        ({"email": "a@example.com"}, "password is required"),
        ({"email": 5, "password": PASSWORD}, "email: Input should be a valid string"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "x" * 201}, "name: "),
    ]
    for body, message in cases:
        r = await client.post("/api/auth/register", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"].startswith(message), r.json()
    r = await register(client, email="not-an-email")
    assert r.status_code == 400
    assert r.json()["error"].startswith("email: ")


async def test_weak_passwords_are_400_with_the_reason(client: httpx.AsyncClient) -> None:
    reasons = {
        "Short-1!": "Password must be at least 12 characters",
        "alllowercase-123": "Password must contain an uppercase letter",
        "ALLUPPERCASE-123": "Password must contain a lowercase letter",
        "No-Digits-Here!!": "Password must contain a digit",
        "NoSymbols12345": "Password must contain a symbol",
    }
    for password, reason in reasons.items():
        r = await register(client, password=password)
        assert r.status_code == 400
        assert r.json() == {"error": reason}


async def test_register_is_rate_limited_to_5_per_15_minutes_per_ip(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    for i in range(5):
        r = await register(client)
        assert r.status_code == 201
        assert r.headers["X-RateLimit-Limit"] == "5"
        assert r.headers["X-RateLimit-Remaining"] == str(4 - i)
    r = await register(client)
    assert r.status_code == 429
    assert r.json()["error"].startswith("Too many registration attempts")
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert r.headers["X-RateLimit-Remaining"] == "0"
    # Another address is not affected.
    async with client_from(app, "192.0.2.7") as elsewhere:
        assert (await register(elsewhere)).status_code == 201


async def test_rate_limit_headers_on_refused_registrations(client: httpx.AsyncClient) -> None:
    r = await register(client, password="weak")
    assert r.status_code == 400
    assert r.headers["X-RateLimit-Limit"] == "5"
    assert r.headers["X-RateLimit-Remaining"] == "4"

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import PASSWORD, login

NEW = "Another-Strong-Pass1!"


async def test_change_password_keeps_this_session_and_ends_the_others(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any
) -> None:
    await login(other_client, user.email)
    r = await user_client.post(
        "/api/user/password", json={"currentPassword": PASSWORD, "newPassword": NEW}
    )
    assert r.status_code == 200
    assert r.json() == {"success": True}
    assert (await user_client.get("/api/user/profile")).status_code == 200
    assert (await other_client.get("/api/user/profile")).status_code == 401
    old = await other_client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(other_client, user.email, NEW)


async def test_wrong_current_password(user_client: httpx.AsyncClient, user: Any) -> None:
    r = await user_client.post(
        "/api/user/password", json={"currentPassword": "Not-The-Pass1!", "newPassword": NEW}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "currentPassword: the current password is incorrect"}


async def test_new_password_must_be_strong_and_new(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post(
        "/api/user/password", json={"currentPassword": PASSWORD, "newPassword": "short"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "newPassword: Password must be at least 12 characters"}
    r = await user_client.post(
        "/api/user/password", json={"currentPassword": PASSWORD, "newPassword": "nouppercase-12!"}
    )
    assert r.json() == {"error": "newPassword: Password must contain an uppercase letter"}
    r = await user_client.post(
        "/api/user/password", json={"currentPassword": PASSWORD, "newPassword": PASSWORD}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "newPassword: must differ from the current password"}


async def test_validation_errors(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/user/password", json={"newPassword": NEW})
    assert r.status_code == 400
    assert r.json() == {"error": "currentPassword is required"}
    r = await user_client.post("/api/user/password", json={"currentPassword": PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "newPassword is required"}


async def test_needs_a_browser_session(
    client: httpx.AsyncClient, key_client: httpx.AsyncClient
) -> None:
    body = {"currentPassword": PASSWORD, "newPassword": NEW}
    r = await client.post("/api/user/password", json=body)
    assert r.status_code == 401
    r = await key_client.post("/api/user/password", json=body)
    assert r.status_code == 403
    assert r.json() == {"error": "This endpoint requires a browser session"}


async def test_guessing_the_current_password_is_rate_limited(
    user_client: httpx.AsyncClient,
) -> None:
    body = {"currentPassword": "Guess-Number-1!", "newPassword": NEW}
    for _ in range(10):
        assert (await user_client.post("/api/user/password", json=body)).status_code == 400
    r = await user_client.post("/api/user/password", json=body)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0

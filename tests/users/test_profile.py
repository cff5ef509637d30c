from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import PASSWORD, login
from tests.fixtures.outbox import Outbox


async def test_get_profile(user_client: httpx.AsyncClient, user: Any) -> None:
    r = await user_client.get("/api/user/profile")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == user.id
    assert body["email"] == user.email
    assert body["name"] == "Test User"
    assert body["firstName"] == "Test" and body["lastName"] == "User"
    assert body["role"] == "USER" and body["status"] == "ACTIVE"
    assert body["twoFactorEnabled"] is False
    assert body["createdAt"].endswith("Z")


async def test_profile_needs_auth(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH"):
        r = await client.request(method, "/api/user/profile", json={"name": "x"})
        assert r.status_code == 401
        assert r.json() == {"error": "Authentication required"}


async def test_patch_updates_the_given_fields_only(user_client: httpx.AsyncClient) -> None:
    r = await user_client.patch(
        "/api/user/profile",
        json={
            "name": "Grace Hopper",
            "firstName": "Grace",
            "lastName": "Hopper",
            "company": "Navy",
            "phone": "+1 (555) 010-0199",
            "timezone": "America/New_York",
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "Grace Hopper"
    assert (body["firstName"], body["lastName"]) == ("Grace", "Hopper")
    assert body["company"] == "Navy"
    assert body["phone"] == "+1 (555) 010-0199"
    assert body["timezone"] == "America/New_York"
    r = await user_client.patch("/api/user/profile", json={"company": "  Acme Inc  "})
    assert r.json()["company"] == "Acme Inc"
    assert r.json()["name"] == "Grace Hopper"  # untouched
    stored = (await user_client.get("/api/user/profile")).json()
    assert stored == r.json()


async def test_null_or_empty_clears_optional_fields(user_client: httpx.AsyncClient) -> None:
    await user_client.patch("/api/user/profile", json={"company": "Acme", "timezone": "UTC"})
    r = await user_client.patch("/api/user/profile", json={"company": None, "timezone": ""})
    assert r.status_code == 200
    assert r.json()["company"] is None and r.json()["timezone"] is None


async def test_validation_errors_name_the_field(user_client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: "),
        ({"timezone": "../../etc/passwd"}, "timezone: "),
        ({"phone": "call me maybe"}, "phone: "),
        ({"name": "x" * 201}, "name: "),
        ({"firstName": "x" * 101}, "firstName: "),
        ({"company": 12}, "company: "),
        ({"email": "not an email"}, "email: "),
        ({"email": ""}, "email: must not be empty"),
        ({"email": None}, "email: must not be empty"),
    ]
    for body, prefix in cases:
        r = await user_client.patch("/api/user/profile", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"].startswith(prefix), r.json()
    # Nothing half-written: a bad field in the body leaves the good ones unsaved.
    r = await user_client.patch("/api/user/profile", json={"company": "X", "timezone": "Nope/No"})
    assert r.status_code == 400
    assert (await user_client.get("/api/user/profile")).json()["company"] is None


async def test_email_change_reverifies(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    r = await user_client.patch("/api/user/profile", json={"email": "New.Address@Example.com"})
    assert r.status_code == 200
    assert r.json()["email"] == "new.address@example.com"
    assert r.json()["emailVerified"] is False
    notice = outbox.last(user.email)
    assert notice["Subject"] == "Your email address was changed"
    assert "new.address@example.com" in outbox.text(notice)
    token = outbox.token("new.address@example.com", "verify-email")
    # Until verified, a new login is refused; the current session goes on.
    denied = await other_client.post(
        "/api/auth/login", json={"email": "new.address@example.com", "password": PASSWORD}
    )
    assert denied.status_code == 403
    assert (await user_client.get("/api/user/profile")).status_code == 200
    ok = await other_client.post("/api/auth/verify-email", json={"token": token})
    assert ok.status_code == 200
    assert (await login(other_client, "new.address@example.com"))["emailVerified"] is True


async def test_verification_link_for_an_old_address_stops_working(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    from tests.auth.helpers import register

    r = await register(client, email="first@example.com")
    assert r.status_code == 201
    first_token = outbox.token("first@example.com", "verify-email")
    # Verify, log in, change address: the new link works, the old one does not.
    await client.post("/api/auth/verify-email", json={"token": first_token})
    await login(client, "first@example.com")
    await client.patch("/api/user/profile", json={"email": "second@example.com"})
    await client.patch("/api/user/profile", json={"email": "third@example.com"})
    stale = outbox.token("second@example.com", "verify-email")
    assert (await client.post("/api/auth/verify-email", json={"token": stale})).status_code == 400
    fresh = outbox.token("third@example.com", "verify-email")
    assert (await client.post("/api/auth/verify-email", json={"token": fresh})).status_code == 200


async def test_email_taken_is_409(
    user_client: httpx.AsyncClient, make_user: Any, outbox: Outbox, user: Any
) -> None:
    other = await make_user()
    r = await user_client.patch("/api/user/profile", json={"email": other.email.upper()})
    assert r.status_code == 409
    assert r.json() == {"error": "An account with this email already exists"}
    profile = (await user_client.get("/api/user/profile")).json()
    assert profile["email"] == user.email and profile["emailVerified"] is True
    assert outbox.messages(user.email) == []


async def test_same_email_changes_nothing(
    user_client: httpx.AsyncClient, user: Any, outbox: Outbox
) -> None:
    r = await user_client.patch("/api/user/profile", json={"email": user.email.upper()})
    assert r.status_code == 200
    assert r.json()["emailVerified"] is True
    assert outbox.messages(user.email) == []


async def test_api_key_may_read_and_edit_the_profile(key_client: httpx.AsyncClient) -> None:
    r = await key_client.patch("/api/user/profile", json={"timezone": "Europe/Athens"})
    assert r.status_code == 200
    assert r.json()["timezone"] == "Europe/Athens"

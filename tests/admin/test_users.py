"""Admin user management: list and search, change status, role and plan, reset 2FA."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
import pytest

from llmportal.auth.models import BackupCode
from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.conftest import UserFactory
from tests.fixtures import factories
from tests.keys.helpers import create_key

ADMIN_ENDPOINTS = [
    ("GET", "/api/admin/users", None),
    ("GET", "/api/admin/users/{id}", None),
    ("PATCH", "/api/admin/users/{id}", {"plan": "PRO"}),
    ("POST", "/api/admin/users/{id}/reset-2fa", None),
    ("GET", "/api/admin/users/{id}/usage", None),
    ("GET", "/api/admin/usage", None),
    ("GET", "/api/admin/models", None),
    ("POST", "/api/admin/models/reload", None),
    ("GET", "/api/admin/audit", None),
]


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, **headers: str
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers or None)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_non_admins_get_403(
    user_client: httpx.AsyncClient, user: User, method: str, path: str, body: Any
) -> None:
    r = await _call(user_client, method, path.format(id=user.id), body)
    assert r.status_code == 403
    assert r.json() == {"error": "Admin access required"}


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_non_admin_api_keys_get_403(
    user_client: httpx.AsyncClient, user: User, method: str, path: str, body: Any
) -> None:
    secret = (await create_key(user_client))["key"]
    user_client.cookies.clear()
    r = await _call(
        user_client, method, path.format(id=user.id), body, Authorization=f"Bearer {secret}"
    )
    assert r.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    r = await _call(client, method, path.format(id="c0mwanyid"), body)
    assert r.status_code == 401


async def test_list_search_and_filter_users(
    admin_client: httpx.AsyncClient, admin: User, make_user: UserFactory, portal: Portal
) -> None:
    alice = await make_user(email="alice.liddell@example.com", name="Alice Liddell")
    bob = await make_user(email="bob@example.com", name="Bob Builder", plan="PRO")
    r = await admin_client.get("/api/admin/users")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and body["page"] == 1 and body["limit"] == 50
    emails = {u["email"] for u in body["users"]}
    assert emails == {admin.email, alice.email, bob.email}
    listed = next(u for u in body["users"] if u["id"] == bob.id)
    assert listed["plan"] == "PRO" and listed["role"] == "USER" and listed["status"] == "ACTIVE"
    assert "passwordHash" not in listed and "password_hash" not in str(listed)

    found = (await admin_client.get("/api/admin/users", params={"q": "LIDDELL"})).json()
    assert [u["id"] for u in found["users"]] == [alice.id] and found["total"] == 1
    by_name = (await admin_client.get("/api/admin/users", params={"q": "builder"})).json()
    assert [u["id"] for u in by_name["users"]] == [bob.id]
    none = (await admin_client.get("/api/admin/users", params={"q": "%"})).json()
    assert none["total"] == 0  # a LIKE wildcard is searched for literally
    admins = (await admin_client.get("/api/admin/users", params={"role": "ADMIN"})).json()
    assert [u["id"] for u in admins["users"]] == [admin.id]
    pro = (await admin_client.get("/api/admin/users", params={"plan": "pro"})).json()
    assert [u["id"] for u in pro["users"]] == [bob.id]

    page2 = (await admin_client.get("/api/admin/users", params={"limit": 2, "page": 2})).json()
    assert page2["total"] == 3 and len(page2["users"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"page": 0}, "page"),
        ({"status": "GONE"}, "status"),
        ({"role": "ROOT"}, "role"),
    ],
)
async def test_list_users_validation(
    admin_client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    r = await admin_client.get("/api/admin/users", params=params)
    assert r.status_code == 400
    assert field in r.json()["error"]


async def test_get_one_user(admin_client: httpx.AsyncClient, user: User) -> None:
    r = await admin_client.get(f"/api/admin/users/{user.id}")
    assert r.status_code == 200
    assert r.json()["user"]["email"] == user.email
    missing = await admin_client.get("/api/admin/users/c0mwnosuchuser")
    assert missing.status_code == 404
    assert missing.json() == {"error": "User not found"}


async def test_change_role_and_plan(
    admin_client: httpx.AsyncClient, user: User, user_client: httpx.AsyncClient
) -> None:
    r = await admin_client.patch(f"/api/admin/users/{user.id}", json={"plan": "pro"})
    assert r.status_code == 200
    assert r.json()["user"]["plan"] == "PRO"
    assert (await user_client.get("/api/user/profile")).json()["plan"] == "PRO"

    r = await admin_client.patch(f"/api/admin/users/{user.id}", json={"role": "ADMIN"})
    assert r.json()["user"]["role"] == "ADMIN"
    assert (await user_client.get("/api/admin/users")).status_code == 200  # now an admin
    r = await admin_client.patch(f"/api/admin/users/{user.id}", json={"role": "USER"})
    assert r.json()["user"]["role"] == "USER"
    assert (await user_client.get("/api/admin/users")).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "DELETED"}, "status"),
        ({"role": "ROOT"}, "role"),
        ({"plan": "PLATINUM"}, "plan"),
        ({"plan": ""}, "plan"),
        ({"email": "x@example.com"}, "email"),
        ({}, "Nothing to change"),
    ],
)
async def test_patch_validation(
    admin_client: httpx.AsyncClient, user: User, body: dict[str, Any], field: str
) -> None:
    r = await admin_client.patch(f"/api/admin/users/{user.id}", json=body)
    assert r.status_code == 400
    assert field in r.json()["error"]
    audit = (await admin_client.get("/api/admin/audit")).json()
    assert audit["entries"] == []  # nothing half-written


async def test_patch_unknown_user_is_404(admin_client: httpx.AsyncClient) -> None:
    r = await admin_client.patch("/api/admin/users/c0mwnosuchuser", json={"plan": "PRO"})
    assert r.status_code == 404


async def test_admins_cannot_lock_themselves_out(
    admin_client: httpx.AsyncClient, admin: User
) -> None:
    r = await admin_client.patch(f"/api/admin/users/{admin.id}", json={"status": "SUSPENDED"})
    assert r.status_code == 400 and "status" in r.json()["error"]
    r = await admin_client.patch(f"/api/admin/users/{admin.id}", json={"role": "USER"})
    assert r.status_code == 400 and "role" in r.json()["error"]
    assert (await admin_client.get("/api/admin/users")).status_code == 200


async def test_suspend_stops_sessions_and_keys_at_once(
    admin_client: httpx.AsyncClient, user: User, user_client: httpx.AsyncClient, app: Any
) -> None:
    secret = (await create_key(user_client))["key"]
    bearer = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50020))
    async with httpx.AsyncClient(transport=transport, base_url=str(user_client.base_url)) as api:
        assert (await api.get("/api/user/profile", headers=bearer)).status_code == 200

        r = await admin_client.patch(f"/api/admin/users/{user.id}", json={"status": "SUSPENDED"})
        assert r.status_code == 200 and r.json()["user"]["status"] == "SUSPENDED"

        assert (await user_client.get("/api/user/profile")).status_code == 401
        refused = await api.get("/api/user/profile", headers=bearer)
        assert refused.status_code == 403 and refused.json() == {"error": "Account suspended"}
        login = await api.post(
            "/api/auth/login", json={"email": user.email, "password": factories.PASSWORD}
        )
        assert login.status_code == 403

        r = await admin_client.patch(f"/api/admin/users/{user.id}", json={"status": "ACTIVE"})
        assert r.json()["user"]["status"] == "ACTIVE"
        assert (await api.get("/api/user/profile", headers=bearer)).status_code == 200
        # The old session stays ended; logging in again works.
        assert (await user_client.get("/api/user/profile")).status_code == 401
        await factories.login(user_client, user.email)
        assert (await user_client.get("/api/user/profile")).status_code == 200


async def _enable_2fa(portal: Portal, user: User) -> str:
    secret = pyotp.random_base32()
    async with transaction(portal.sessionmaker) as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.totp_secret = secret
        row.totp_enabled = True
        db.add(BackupCode(user_id=user.id, code_hash="0" * 64))
    return secret


async def test_reset_2fa(
    admin_client: httpx.AsyncClient, user: User, client: httpx.AsyncClient, portal: Portal
) -> None:
    await _enable_2fa(portal, user)
    creds = {"email": user.email, "password": factories.PASSWORD}
    needs_code = await client.post("/api/auth/login", json=creds)
    assert needs_code.status_code == 401 and needs_code.json()["requires2FA"] is True

    r = await admin_client.post(f"/api/admin/users/{user.id}/reset-2fa")
    assert r.status_code == 200
    assert r.json()["success"] is True and r.json()["user"]["twoFactorEnabled"] is False
    assert (await client.post("/api/auth/login", json=creds)).status_code == 200

    again = await admin_client.post(f"/api/admin/users/{user.id}/reset-2fa")
    assert again.status_code == 400
    missing = await admin_client.post("/api/admin/users/c0mwnosuchuser/reset-2fa")
    assert missing.status_code == 404

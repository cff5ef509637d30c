"""Org keys: admins and owners create, change, rotate and revoke them; every member lists and
reads them without the secret; they stay out of the creator's /api/keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.keys.helpers import bearer, create_key
from tests.orgs.conftest import Person, Team

FULL_BODY = {
    "name": "Shared CI",
    "description": "for the build servers",
    "permissions": ["chat", "images"],
    "ipWhitelist": ["203.0.113.0/24", "127.0.0.1"],
    "dailyLimit": 10000,
    "monthlyLimit": 250000,
    "rpmLimit": 60,
    "expiresInDays": 90,
}


def keys(team: Team) -> str:
    return f"/api/orgs/{team.org_id}/keys"


async def org_key(team: Team, by: Person | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Team key")
    r = await (by or team.admin).client.post(keys(team), json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_an_admin_creates_a_key_with_the_keys_json(team: Team) -> None:
    r = await team.admin.client.post(keys(team), json=FULL_BODY)
    assert r.status_code == 201
    body = r.json()
    assert body["key"].startswith("sk-live-") and body["prefix"] == body["key"][:12] + "…"
    assert body["orgId"] == team.org_id
    assert body["createdBy"] == {
        "id": team.admin.id,
        "name": "Adam Admin",
        "email": team.admin.user.email,
    }
    assert (body["name"], body["status"], body["permissions"]) == (
        "Shared CI",
        "ACTIVE",
        ["chat", "images"],
    )
    assert (body["dailyLimit"], body["monthlyLimit"], body["rpmLimit"]) == (10000, 250000, 60)
    personal = await create_key(team.admin.client)
    assert set(body) == set(personal) | {"orgId", "createdBy"}


async def test_members_see_the_keys_without_the_secret(team: Team) -> None:
    created = await org_key(team)
    for person in (team.owner, team.admin, team.member):
        listed = (await person.client.get(keys(team))).json()["keys"]
        assert [k["id"] for k in listed] == [created["id"]]
        assert "key" not in listed[0] and listed[0]["prefix"] == created["prefix"]
        one = await person.client.get(f"{keys(team)}/{created['id']}")
        assert one.status_code == 200 and "key" not in one.json()
        assert one.json()["createdBy"]["id"] == team.admin.id


async def test_a_member_changes_no_keys(team: Team) -> None:
    created = await org_key(team)
    key_path = f"{keys(team)}/{created['id']}"
    client = team.member.client
    attempts = [
        await client.post(keys(team), json={"name": "mine"}),
        await client.patch(key_path, json={"name": "mine"}),
        await client.delete(key_path),
        await client.post(f"{key_path}/regenerate"),
        await client.post(f"{key_path}/revoke", json={}),
        await client.post(f"{key_path}/reactivate"),
    ]
    for r in attempts:
        assert (r.status_code, r.json()) == (
            403,
            {"error": "Only an admin or owner of the organization can do this"},
        ), r.request.url
    assert (await client.get(key_path)).json()["name"] == "Team key"


async def test_org_keys_stay_out_of_the_creators_own_keys(team: Team) -> None:
    created = await org_key(team, by=team.owner)
    assert (await team.owner.client.get("/api/keys")).json() == {"keys": []}
    r = await team.owner.client.get(f"/api/keys/{created['id']}")
    assert (r.status_code, r.json()) == (404, {"error": "API key not found"})
    assert (await team.owner.client.delete(f"/api/keys/{created['id']}")).status_code == 404
    # The Free plan's one personal key is still free to create.
    await create_key(team.owner.client)
    personal = (await team.owner.client.get("/api/keys")).json()["keys"]
    assert len(personal) == 1 and "orgId" not in personal[0]
    r = await team.owner.client.get(f"{keys(team)}/{personal[0]['id']}")
    assert (r.status_code, r.json()) == (404, {"error": "API key not found"})


async def test_update_rotate_revoke_reactivate_delete(team: Team) -> None:
    created = await org_key(team)
    key_path = f"{keys(team)}/{created['id']}"
    admin = team.admin.client
    r = await admin.patch(key_path, json={"name": "Renamed", "rpmLimit": 5})
    assert (r.status_code, r.json()["name"], r.json()["rpmLimit"]) == (200, "Renamed", 5)
    rotated = await admin.post(f"{key_path}/regenerate")
    assert rotated.status_code == 200
    new_secret = rotated.json()["key"]
    assert new_secret != created["key"] and rotated.json()["orgId"] == team.org_id
    assert (await admin.get("/v1/models", headers=bearer(created["key"]))).status_code == 401
    assert (await admin.get("/v1/models", headers=bearer(new_secret))).status_code == 200
    r = await team.owner.client.post(f"{key_path}/revoke", json={"reason": "leaked"})
    assert (r.status_code, r.json()["status"], r.json()["revokedReason"]) == (
        200,
        "REVOKED",
        "leaked",
    )
    r = await admin.get("/v1/models", headers=bearer(new_secret))
    assert (r.status_code, r.json()) == (401, {"error": "API key revoked"})
    assert (await admin.post(f"{key_path}/revoke")).status_code == 409
    assert (await admin.post(f"{key_path}/reactivate")).json()["status"] == "ACTIVE"
    assert (await admin.get("/v1/models", headers=bearer(new_secret))).status_code == 200
    assert (await admin.delete(key_path)).json() == {"success": True}
    assert (await admin.get(key_path)).status_code == 404
    assert (await admin.get("/v1/models", headers=bearer(new_secret))).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name is required"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "K", "permissions": ["root"]}, "permissions: unknown permission 'root'"),
        ({"name": "K", "ipWhitelist": ["nowhere"]}, "ipWhitelist: 'nowhere' is not"),
        ({"name": "K", "dailyLimit": -1}, "dailyLimit: Input should be greater than or equal"),
    ],
)
async def test_key_validation(team: Team, body: dict[str, Any], message: str) -> None:
    r = await team.admin.client.post(keys(team), json=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)
    created = await org_key(team)
    if body:
        r = await team.admin.client.patch(f"{keys(team)}/{created['id']}", json=body)
        assert r.status_code == 400 and r.json()["error"].startswith(message)
    assert len((await team.admin.client.get(keys(team))).json()["keys"]) == 1


async def test_non_members_and_other_orgs_get_404(team: Team, other_team: Team) -> None:
    created = await org_key(team)
    theirs = await org_key(other_team)
    outsider = team.outsider.client
    assert (await outsider.get(keys(team))).status_code == 404
    assert (await outsider.post(keys(team), json={"name": "x"})).status_code == 404
    assert (await outsider.get(f"{keys(team)}/{created['id']}")).status_code == 404
    # The other org's owner, in their own org, naming the first org's key: not found.
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/regenerate"),
        ("POST", "/revoke"),
        ("POST", "/reactivate"),
        ("GET", "/usage"),
        ("GET", "/requests"),
    ]:
        r = await other_team.owner.client.request(
            method,
            f"{keys(other_team)}/{created['id']}{suffix}",
            json={"name": "taken"} if method == "PATCH" else None,
        )
        assert (r.status_code, r.json()) == (404, {"error": "API key not found"}), (method, suffix)
    # Nor the first org's owner naming the other org's key under their own org.
    r = await team.owner.client.get(f"{keys(team)}/{theirs['id']}")
    assert r.status_code == 404
    assert (await team.admin.client.get(f"{keys(team)}/{created['id']}")).json()["status"] == (
        "ACTIVE"
    )


async def test_an_org_key_reaches_only_the_model_endpoints(team: Team) -> None:
    secret = (await org_key(team))["key"]
    client = team.outsider.client  # whoever holds the key
    for path in ("/v1/models", "/api/chat/models"):
        assert (await client.get(path, headers=bearer(secret))).status_code == 200
    for method, path in [
        ("GET", "/api/user/profile"),
        ("GET", "/api/chat/sessions"),
        ("GET", "/api/files"),
        ("GET", "/api/stuff"),
        ("GET", "/api/usage/summary"),
        ("GET", "/api/billing"),
    ]:
        r = await client.request(method, path, headers=bearer(secret))
        assert (r.status_code, r.json()) == (
            403,
            {"error": "An organization API key can only call the model endpoints"},
        ), path


async def test_a_removed_members_keys_keep_working(team: Team) -> None:
    created = await org_key(team)
    r = await team.owner.client.delete(f"/api/orgs/{team.org_id}/members/{team.admin.id}")
    assert r.status_code == 200
    assert (
        await team.owner.client.get("/v1/models", headers=bearer(created["key"]))
    ).status_code == 200
    listed = (await team.member.client.get(keys(team))).json()["keys"]
    assert [(k["id"], k["createdBy"]["id"]) for k in listed] == [(created["id"], team.admin.id)]
    # The org's admins still manage it.
    r = await team.owner.client.post(f"{keys(team)}/{created['id']}/revoke")
    assert r.json()["status"] == "REVOKED"

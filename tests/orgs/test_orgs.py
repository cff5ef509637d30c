"""/api/orgs: create (the creator is OWNER), list mine with my role, get, rename, delete."""

from __future__ import annotations

import pytest

from tests.keys.helpers import bearer, create_key
from tests.orgs.conftest import People, Team, create_org


async def test_create_makes_the_creator_owner(people: People) -> None:
    ada = await people.person()
    r = await ada.client.post("/api/orgs", json={"name": "  Research  "})
    assert r.status_code == 201
    org = r.json()
    assert org["name"] == "Research"
    assert org["role"] == "OWNER" and org["memberCount"] == 1
    assert set(org) == {"id", "name", "role", "memberCount", "createdAt", "updatedAt"}
    members = (await ada.client.get(f"/api/orgs/{org['id']}/members")).json()["members"]
    assert [(m["userId"], m["role"]) for m in members] == [(ada.id, "OWNER")]


async def test_list_shows_my_orgs_with_my_role(team: Team, other_team: Team) -> None:
    await create_org(team.member.client, "Side project")
    orgs = (await team.member.client.get("/api/orgs")).json()["orgs"]
    assert [(o["name"], o["role"], o["memberCount"]) for o in orgs] == [
        ("Acme", "MEMBER", 3),
        ("Side project", "OWNER", 1),
    ]
    assert (await team.outsider.client.get("/api/orgs")).json() == {"orgs": []}


async def test_get_answers_members_and_404s_everyone_else(team: Team, other_team: Team) -> None:
    for person, role in [(team.owner, "OWNER"), (team.admin, "ADMIN"), (team.member, "MEMBER")]:
        r = await person.client.get(f"/api/orgs/{team.org_id}")
        assert r.status_code == 200
        assert (r.json()["role"], r.json()["memberCount"]) == (role, 3)
    for outsider in (team.outsider, other_team.owner):
        r = await outsider.client.get(f"/api/orgs/{team.org_id}")
        assert r.status_code == 404
        assert r.json() == {"error": "Organization not found"}
    assert (await team.owner.client.get("/api/orgs/nosuchorg")).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name is required"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "   "}, "name: must not be empty"),
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
        ({"name": 7}, "name: Input should be a valid string"),
        ({"name": "two\nlines"}, "name: must not contain control characters"),
    ],
)
async def test_create_and_rename_validation(
    team: Team, body: dict[str, object], message: str
) -> None:
    r = await team.owner.client.post("/api/orgs", json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})
    r = await team.owner.client.patch(f"/api/orgs/{team.org_id}", json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert len((await team.owner.client.get("/api/orgs")).json()["orgs"]) == 1


async def test_only_an_owner_renames(team: Team, other_team: Team) -> None:
    for person in (team.admin, team.member):
        r = await person.client.patch(f"/api/orgs/{team.org_id}", json={"name": "Mine now"})
        assert r.status_code == 403
        assert r.json() == {"error": "Only an owner of the organization can do this"}
    r = await other_team.owner.client.patch(f"/api/orgs/{team.org_id}", json={"name": "Mine"})
    assert r.status_code == 404
    r = await team.owner.client.patch(f"/api/orgs/{team.org_id}", json={"name": "Acme Inc"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["role"]) == ("Acme Inc", "OWNER")
    assert (await team.member.client.get(f"/api/orgs/{team.org_id}")).json()["name"] == "Acme Inc"


async def test_only_an_owner_deletes_and_the_keys_stop_at_once(
    team: Team, other_team: Team
) -> None:
    r = await team.admin.client.post(f"/api/orgs/{team.org_id}/keys", json={"name": "ci"})
    secret = r.json()["key"]
    assert (await team.owner.client.get("/v1/models", headers=bearer(secret))).status_code == 200
    for person in (team.admin, team.member):
        r = await person.client.delete(f"/api/orgs/{team.org_id}")
        assert r.status_code == 403
    assert (await other_team.owner.client.delete(f"/api/orgs/{team.org_id}")).status_code == 404
    r = await team.owner.client.delete(f"/api/orgs/{team.org_id}")
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert (await team.owner.client.get(f"/api/orgs/{team.org_id}")).status_code == 404
    assert (await team.member.client.get("/api/orgs")).json() == {"orgs": []}
    # The key was cached by the call above; the delete is seen at once all the same.
    r = await team.owner.client.get("/v1/models", headers=bearer(secret))
    assert (r.status_code, r.json()) == (401, {"error": "Invalid API key"})
    assert (await other_team.owner.client.get(f"/api/orgs/{other_team.org_id}")).status_code == 200


async def test_org_routes_need_a_browser_session(team: Team) -> None:
    personal = await create_key(team.owner.client)
    for method, path in [
        ("GET", "/api/orgs"),
        ("GET", f"/api/orgs/{team.org_id}"),
        ("GET", f"/api/orgs/{team.org_id}/keys"),
    ]:
        r = await team.owner.client.request(method, path, headers=bearer(personal["key"]))
        assert r.status_code == 403
        assert r.json() == {"error": "This endpoint requires a browser session"}


async def test_without_credentials_401(team: Team, people: People) -> None:
    anonymous = team.outsider.client
    await anonymous.post("/api/auth/logout")
    r = await anonymous.get(f"/api/orgs/{team.org_id}")
    assert r.status_code == 401
    assert (await anonymous.post("/api/orgs", json={"name": "x"})).status_code == 401

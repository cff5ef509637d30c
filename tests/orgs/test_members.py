"""Members: list, change role, remove, leave; never an org without an owner."""

from __future__ import annotations

import pytest

from tests.orgs.conftest import Team

LAST_OWNER = (
    "An organization needs at least one owner: make another member an owner first, "
    "or delete the organization"
)


def members(team: Team) -> str:
    return f"/api/orgs/{team.org_id}/members"


async def roles(team: Team) -> dict[str, str]:
    r = await team.owner.client.get(members(team))
    assert r.status_code == 200, r.text
    return {m["userId"]: m["role"] for m in r.json()["members"]}


async def test_every_member_lists_the_members(team: Team) -> None:
    for person in (team.owner, team.admin, team.member):
        r = await person.client.get(members(team))
        assert r.status_code == 200
        found = r.json()["members"]
        assert [(m["name"], m["role"]) for m in found] == [
            ("Olive Owner", "OWNER"),
            ("Adam Admin", "ADMIN"),
            ("Mia Member", "MEMBER"),
        ]
        assert found[2]["email"] == team.member.user.email
        assert set(found[0]) == {"userId", "name", "email", "role", "joinedAt"}
    assert (await team.outsider.client.get(members(team))).status_code == 404


async def test_admin_promotes_and_demotes_members(team: Team) -> None:
    r = await team.admin.client.patch(f"{members(team)}/{team.member.id}", json={"role": "ADMIN"})
    assert r.status_code == 200
    assert (r.json()["userId"], r.json()["role"]) == (team.member.id, "ADMIN")
    r = await team.admin.client.patch(f"{members(team)}/{team.member.id}", json={"role": "MEMBER"})
    assert r.json()["role"] == "MEMBER"
    assert (await roles(team))[team.member.id] == "MEMBER"


async def test_only_an_owner_makes_owners_or_changes_one(team: Team) -> None:
    r = await team.admin.client.patch(f"{members(team)}/{team.member.id}", json={"role": "OWNER"})
    assert r.status_code == 403
    assert "Only an owner" in r.json()["error"]
    r = await team.admin.client.patch(f"{members(team)}/{team.owner.id}", json={"role": "MEMBER"})
    assert r.status_code == 403
    r = await team.owner.client.patch(f"{members(team)}/{team.admin.id}", json={"role": "OWNER"})
    assert (r.status_code, r.json()["role"]) == (200, "OWNER")


async def test_a_member_changes_no_roles(team: Team) -> None:
    r = await team.member.client.patch(f"{members(team)}/{team.member.id}", json={"role": "ADMIN"})
    assert r.status_code == 403
    assert r.json() == {"error": "Only an admin or owner of the organization can do this"}
    r = await team.member.client.delete(f"{members(team)}/{team.admin.id}")
    assert r.status_code == 403
    assert (await roles(team))[team.member.id] == "MEMBER"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "role is required"),
        ({"role": "BOSS"}, "role: Input should be 'OWNER', 'ADMIN' or 'MEMBER'"),
        ({"role": None}, "role: Input should be 'OWNER', 'ADMIN' or 'MEMBER'"),
    ],
)
async def test_role_validation(team: Team, body: dict[str, object], message: str) -> None:
    r = await team.owner.client.patch(f"{members(team)}/{team.member.id}", json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_the_last_owner_cannot_be_demoted(team: Team) -> None:
    r = await team.owner.client.patch(f"{members(team)}/{team.owner.id}", json={"role": "ADMIN"})
    assert (r.status_code, r.json()) == (409, {"error": LAST_OWNER})
    # With a second owner, either may step down, but not both.
    await team.owner.client.patch(f"{members(team)}/{team.admin.id}", json={"role": "OWNER"})
    r = await team.owner.client.patch(f"{members(team)}/{team.owner.id}", json={"role": "ADMIN"})
    assert r.status_code == 200
    r = await team.admin.client.patch(f"{members(team)}/{team.admin.id}", json={"role": "MEMBER"})
    assert r.status_code == 409
    assert (await roles(team))[team.admin.id] == "OWNER"


async def test_the_last_owner_cannot_leave_or_be_removed(team: Team) -> None:
    r = await team.owner.client.post(f"/api/orgs/{team.org_id}/leave")
    assert (r.status_code, r.json()) == (409, {"error": LAST_OWNER})
    r = await team.owner.client.delete(f"{members(team)}/{team.owner.id}")
    assert (r.status_code, r.json()) == (409, {"error": LAST_OWNER})
    r = await team.admin.client.delete(f"{members(team)}/{team.owner.id}")
    assert (r.status_code, r.json()) == (403, {"error": "Only an owner can remove an owner"})
    assert (await roles(team))[team.owner.id] == "OWNER"


async def test_members_leave(team: Team) -> None:
    r = await team.member.client.post(f"/api/orgs/{team.org_id}/leave")
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert (await team.member.client.get(f"/api/orgs/{team.org_id}")).status_code == 404
    assert team.member.id not in await roles(team)
    # A second owner can leave the first behind.
    await team.owner.client.patch(f"{members(team)}/{team.admin.id}", json={"role": "OWNER"})
    assert (await team.owner.client.post(f"/api/orgs/{team.org_id}/leave")).status_code == 200
    assert (await team.admin.client.get(f"/api/orgs/{team.org_id}")).json()["memberCount"] == 1


async def test_admin_removes_a_member(team: Team) -> None:
    r = await team.admin.client.delete(f"{members(team)}/{team.member.id}")
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert (await team.member.client.get(f"/api/orgs/{team.org_id}")).status_code == 404
    r = await team.admin.client.delete(f"{members(team)}/{team.member.id}")
    assert (r.status_code, r.json()) == (404, {"error": "Member not found"})


async def test_another_orgs_ids_are_404(team: Team, other_team: Team) -> None:
    # As owner of their own org, with the first org's member ids: nobody they know.
    path = f"/api/orgs/{other_team.org_id}/members/{team.member.id}"
    assert (await other_team.owner.client.patch(path, json={"role": "ADMIN"})).status_code == 404
    assert (await other_team.owner.client.delete(path)).status_code == 404
    # And as a non-member, with the first org's own ids.
    path = f"{members(team)}/{team.member.id}"
    for method in ("PATCH", "DELETE"):
        r = await other_team.owner.client.request(
            method, path, json={"role": "ADMIN"} if method == "PATCH" else None
        )
        assert (r.status_code, r.json()) == (404, {"error": "Organization not found"})
    assert (await other_team.owner.client.post(f"/api/orgs/{team.org_id}/leave")).status_code == 404
    assert (await roles(team))[team.member.id] == "MEMBER"

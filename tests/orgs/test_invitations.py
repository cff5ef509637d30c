"""Invitations: an admin or owner invites an address with a role (not above their own); the
emailed link works once, for the signed-in user with that address, for 7 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from llmportal.db import utcnow
from llmportal.orgs import invitations as invitations_module
from llmportal.orgs import models as org_models
from tests.fixtures.outbox import Outbox
from tests.orgs.conftest import People, Team, add_member


def path(team: Team) -> str:
    return f"/api/orgs/{team.org_id}/invitations"


async def invite(team: Team, email: str, role: str = "MEMBER", by: Any = None) -> dict[str, Any]:
    client = (by or team.owner).client
    r = await client.post(path(team), json={"email": email, "role": role})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def move_clock(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    later = utcnow() + by

    def clock() -> datetime:
        return later

    monkeypatch.setattr(invitations_module, "utcnow", clock)
    monkeypatch.setattr(org_models, "utcnow", clock)


async def test_invite_email_link_and_accept(team: Team, people: People, outbox: Outbox) -> None:
    newcomer = await people.person(name="Nina New")
    invited = await invite(team, newcomer.user.email.upper(), "ADMIN", by=team.admin)
    assert invited["email"] == newcomer.user.email
    assert (invited["role"], invited["status"]) == ("ADMIN", "PENDING")
    assert invited["invitedBy"] == {
        "id": team.admin.id,
        "name": "Adam Admin",
        "email": team.admin.user.email,
    }
    assert "token" not in invited and "key" not in invited
    mail = outbox.last(newcomer.user.email)
    assert mail["Subject"] == "Join Acme on LLM Portal"
    text = outbox.text(mail)
    assert "Adam Admin invited you to join the organization Acme" in text and "7 days" in text
    link = outbox.link(newcomer.user.email, "accept-invitation")
    assert link.startswith("http://127.0.0.1:8000/accept-invitation?token=")

    pending = (await team.owner.client.get(path(team))).json()["invitations"]
    assert [i["id"] for i in pending] == [invited["id"]]

    token = outbox.token(newcomer.user.email, "accept-invitation")
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert r.status_code == 200, r.text
    org = r.json()
    assert (org["id"], org["name"], org["role"], org["memberCount"]) == (
        team.org_id,
        "Acme",
        "ADMIN",
        4,
    )
    listed = (await newcomer.client.get("/api/orgs")).json()["orgs"]
    assert [(o["id"], o["role"]) for o in listed] == [(team.org_id, "ADMIN")]
    assert (await team.owner.client.get(path(team))).json() == {"invitations": []}

    # The link works once.
    again = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert (again.status_code, again.json()) == (
        400,
        {"error": "This invitation has already been used"},
    )


async def test_the_link_is_for_the_invited_address_only(
    team: Team, people: People, outbox: Outbox
) -> None:
    await invite(team, "someone@example.com")
    token = outbox.token("someone@example.com", "accept-invitation")
    r = await team.outsider.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert r.status_code == 403
    assert r.json() == {
        "error": "This invitation is for another email address: sign in with that address"
    }
    assert (await team.outsider.client.get("/api/orgs")).json() == {"orgs": []}
    # Still pending for the right person.
    invited = await people.person(email="someone@example.com")
    r = await invited.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert (r.status_code, r.json()["role"]) == (200, "MEMBER")


async def test_an_expired_link_is_refused(
    team: Team, people: People, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    newcomer = await people.person()
    await invite(team, newcomer.user.email)
    token = outbox.token(newcomer.user.email, "accept-invitation")
    move_clock(monkeypatch, timedelta(days=6, hours=23))
    assert len((await team.owner.client.get(path(team))).json()["invitations"]) == 1
    move_clock(monkeypatch, timedelta(days=7, minutes=1))
    assert (await team.owner.client.get(path(team))).json() == {"invitations": []}
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "This invitation has expired; ask for a new one"},
    )
    assert (await newcomer.client.get("/api/orgs")).json() == {"orgs": []}


async def test_a_revoked_link_is_refused(team: Team, people: People, outbox: Outbox) -> None:
    newcomer = await people.person()
    invited = await invite(team, newcomer.user.email)
    token = outbox.token(newcomer.user.email, "accept-invitation")
    r = await team.admin.client.delete(f"{path(team)}/{invited['id']}")
    assert (r.status_code, r.json()) == (200, {"success": True})
    r = await team.admin.client.delete(f"{path(team)}/{invited['id']}")
    assert (r.status_code, r.json()) == (
        409,
        {"error": "This invitation is no longer pending (revoked)"},
    )
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "This invitation was revoked or replaced by a newer one"},
    )


async def test_inviting_again_replaces_the_pending_link(
    team: Team, people: People, outbox: Outbox
) -> None:
    newcomer = await people.person()
    first = await invite(team, newcomer.user.email)
    old = outbox.token(newcomer.user.email, "accept-invitation")
    second = await invite(team, newcomer.user.email, "ADMIN")
    new = outbox.token(newcomer.user.email, "accept-invitation")
    assert old != new and first["id"] != second["id"]
    pending = (await team.owner.client.get(path(team))).json()["invitations"]
    assert [(i["id"], i["role"]) for i in pending] == [(second["id"], "ADMIN")]
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": old})
    assert r.status_code == 400
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": new})
    assert (r.status_code, r.json()["role"]) == (200, "ADMIN")


async def test_unknown_tokens_and_bodies(team: Team) -> None:
    client = team.outsider.client
    r = await client.post("/api/orgs/invitations/accept", json={"token": "made-up"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid invitation link"})
    r = await client.post("/api/orgs/invitations/accept", json={})
    assert (r.status_code, r.json()) == (400, {"error": "token is required"})
    r = await client.post("/api/orgs/invitations/accept", json={"token": ""})
    assert r.status_code == 400


async def test_a_member_cannot_invite_and_an_admin_not_above_admin(team: Team) -> None:
    r = await team.member.client.post(path(team), json={"email": "x@example.com"})
    assert (r.status_code, r.json()) == (
        403,
        {"error": "Only an admin or owner of the organization can do this"},
    )
    assert (await team.member.client.get(path(team))).status_code == 403
    r = await team.admin.client.post(path(team), json={"email": "x@example.com", "role": "OWNER"})
    assert (r.status_code, r.json()) == (
        403,
        {"error": "You cannot invite with a role above your own (ADMIN)"},
    )
    r = await team.owner.client.post(path(team), json={"email": "x@example.com", "role": "OWNER"})
    assert r.status_code == 201
    r = await team.member.client.delete(f"{path(team)}/{r.json()['id']}")
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "email is required"),
        ({"email": "not-an-address"}, "email: "),
        ({"email": "a@example.com", "role": "KING"}, "role: Input should be"),
        ({"email": "a@" + "x" * 330 + ".com"}, "email: String should have at most 320"),
    ],
)
async def test_invite_validation(team: Team, body: dict[str, Any], message: str) -> None:
    r = await team.owner.client.post(path(team), json=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)


async def test_members_and_their_addresses_are_not_invited_twice(team: Team) -> None:
    r = await team.owner.client.post(path(team), json={"email": team.member.user.email})
    assert (r.status_code, r.json()) == (
        409,
        {"error": f"{team.member.user.email} is already a member of this organization"},
    )


async def test_accepting_when_already_a_member_is_409(
    team: Team, people: People, outbox: Outbox
) -> None:
    newcomer = await people.person()
    await invite(team, newcomer.user.email)
    token = outbox.token(newcomer.user.email, "accept-invitation")
    await add_member(people.app.state.portal, team.org_id, newcomer.user, "MEMBER")
    r = await newcomer.client.post("/api/orgs/invitations/accept", json={"token": token})
    assert (r.status_code, r.json()) == (
        409,
        {"error": "You are already a member of this organization"},
    )


async def test_invitations_are_rate_limited_per_user(team: Team, people: People) -> None:
    portal = people.app.state.portal
    portal.settings.rate_limits["org-invite"] = 2
    try:
        for n in range(2):
            await invite(team, f"friend{n}@example.com")
        r = await team.owner.client.post(path(team), json={"email": "friend9@example.com"})
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert r.json()["error"].startswith("Too many invitations sent")
    finally:
        portal.settings.rate_limits.pop("org-invite")
    pending = (await team.owner.client.get(path(team))).json()["invitations"]
    assert sorted(i["email"] for i in pending) == ["friend0@example.com", "friend1@example.com"]


async def test_another_orgs_invitations_are_404(team: Team, other_team: Team) -> None:
    invited = await invite(team, "guest@example.com")
    r = await other_team.owner.client.delete(
        f"/api/orgs/{other_team.org_id}/invitations/{invited['id']}"
    )
    assert (r.status_code, r.json()) == (404, {"error": "Invitation not found"})
    r = await other_team.owner.client.delete(f"{path(team)}/{invited['id']}")
    assert (r.status_code, r.json()) == (404, {"error": "Organization not found"})
    assert (await other_team.owner.client.get(path(team))).status_code == 404
    r = await other_team.owner.client.post(path(team), json={"email": "spy@example.com"})
    assert r.status_code == 404
    assert len((await team.owner.client.get(path(team))).json()["invitations"]) == 1

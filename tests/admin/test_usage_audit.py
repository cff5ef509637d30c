"""The whole portal's usage, any user's usage, and the audit log of admin actions."""

from __future__ import annotations

import httpx
import pytest

from llmportal.db import utcnow
from llmportal.ids import new_id
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User
from tests.conftest import UserFactory


async def _record_usage(portal: Portal, user: User, prompt: int, completion: int) -> None:
    writer = portal.services["usage_writer"]
    writer.add(
        UsageRecord(
            id=new_id(),
            created_at=utcnow(),
            user_id=user.id,
            model="some-model",
            provider="local",
            prompt_tokens=prompt,
            completion_tokens=completion,
            input_cost_micros=0,
            output_cost_micros=0,
            image_cost_micros=0,
            latency_ms=10,
            status="success",
            http_status=200,
            stream=False,
        )
    )
    await writer.flush()


async def test_portal_usage_covers_every_user(
    admin_client: httpx.AsyncClient,
    user_client: httpx.AsyncClient,
    user: User,
    make_user: UserFactory,
    portal: Portal,
) -> None:
    other = await make_user()
    await _record_usage(portal, user, 10, 5)
    await _record_usage(portal, other, 100, 50)
    r = await admin_client.get("/api/admin/usage", params={"period": "7d"})
    assert r.status_code == 200
    stats = r.json()["stats"]
    assert stats["totalRequests"] == 2 and stats["totalTokens"] == 165
    mine = (await user_client.get("/api/usage/summary", params={"period": "7d"})).json()
    assert mine["stats"]["totalTokens"] == 15  # a user still sees only their own


async def test_one_users_usage(
    admin_client: httpx.AsyncClient, user: User, make_user: UserFactory, portal: Portal
) -> None:
    other = await make_user()
    await _record_usage(portal, user, 10, 5)
    await _record_usage(portal, other, 100, 50)
    r = await admin_client.get(f"/api/admin/users/{other.id}/usage")
    assert r.status_code == 200
    assert r.json()["stats"]["totalTokens"] == 150
    missing = await admin_client.get("/api/admin/users/c0mwnosuchuser/usage")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [({"period": "1y"}, "period"), ({"status": "meh"}, "status"), ({"from": "yesterday"}, "from")],
)
async def test_usage_validation(
    admin_client: httpx.AsyncClient, user: User, params: dict[str, str], field: str
) -> None:
    for path in ("/api/admin/usage", f"/api/admin/users/{user.id}/usage"):
        r = await admin_client.get(path, params=params)
        assert r.status_code == 400
        assert field in r.json()["error"]


async def test_every_admin_action_is_audited(
    admin_client: httpx.AsyncClient, admin: User, user: User
) -> None:
    assert (await admin_client.get("/api/admin/audit")).json()["entries"] == []
    await admin_client.patch(f"/api/admin/users/{user.id}", json={"status": "SUSPENDED"})
    await admin_client.patch(f"/api/admin/users/{user.id}", json={"plan": "PRO", "role": "ADMIN"})
    await admin_client.patch(f"/api/admin/users/{user.id}", json={"plan": "PRO"})  # no change
    await admin_client.get(f"/api/admin/users/{user.id}/usage")

    r = await admin_client.get("/api/admin/audit")
    assert r.status_code == 200
    body = r.json()
    actions = [e["action"] for e in body["entries"]]
    assert actions[0] == "user.usage_viewed"  # newest first
    assert sorted(actions) == sorted(
        ["user.suspended", "user.plan", "user.role", "user.usage_viewed"]
    )
    assert body["total"] == 4 and body["limit"] == 50 and body["offset"] == 0
    suspended = next(e for e in body["entries"] if e["action"] == "user.suspended")
    assert suspended["actorId"] == admin.id and suspended["actorEmail"] == admin.email
    assert suspended["targetType"] == "user" and suspended["targetId"] == user.id
    assert suspended["details"] == {"email": user.email, "previous": "ACTIVE"}
    assert suspended["ip"] == "127.0.0.1"
    assert suspended["createdAt"].endswith("Z")
    plan = next(e for e in body["entries"] if e["action"] == "user.plan")
    assert plan["details"]["previous"] == "FREE" and plan["details"]["plan"] == "PRO"

    only = (await admin_client.get("/api/admin/audit", params={"action": "user.role"})).json()
    assert [e["action"] for e in only["entries"]] == ["user.role"] and only["total"] == 1
    target = (await admin_client.get("/api/admin/audit", params={"targetId": user.id})).json()
    assert target["total"] == 4
    paged = (await admin_client.get("/api/admin/audit", params={"limit": 1, "offset": 1})).json()
    assert len(paged["entries"]) == 1 and paged["entries"][0]["action"] == actions[1]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 500}, "limit"), ({"offset": -1}, "offset")],
)
async def test_audit_validation(
    admin_client: httpx.AsyncClient, params: dict[str, int], field: str
) -> None:
    r = await admin_client.get("/api/admin/audit", params=params)
    assert r.status_code == 400
    assert field in r.json()["error"]

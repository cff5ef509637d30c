"""Completions with an org key: the usage row carries the org and the member who created the
key, and the org's usage lists them; a personal key's usage stays out of it."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from tests.conftest import BASE_URL
from tests.keys.helpers import bearer, create_key
from tests.orgs.conftest import People, Team

CHAT = {"model": "priced", "messages": [{"role": "user", "content": "Hello"}]}


async def _rows(portal: Portal) -> list[UsageRecord]:
    await portal.services["usage_writer"].flush()
    async with portal.sessionmaker() as db:
        found = await db.scalars(select(UsageRecord).order_by(UsageRecord.created_at))
        return list(found)


async def _org_key(team: Team, name: str = "Team key", by: Any = None) -> dict[str, Any]:
    r = await (by or team.admin).client.post(f"/api/orgs/{team.org_id}/keys", json={"name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_completions_with_an_org_key_are_the_orgs_usage(gw_people: People) -> None:
    team = await gw_people.team(plan="UNLIMITED")
    portal: Portal = gw_people.app.state.portal
    ci = await _org_key(team, "CI", by=team.admin)
    bots = await _org_key(team, "Bots", by=team.owner)
    # Whoever holds the key calls the OpenAI-compatible endpoint with it.
    caller = team.outsider.client
    for secret in (ci["key"], ci["key"], bots["key"]):
        r = await caller.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    streamed = await caller.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(bots["key"])
    )
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    personal = await create_key(team.member.client)
    r = await caller.post("/v1/chat/completions", json=CHAT, headers=bearer(personal["key"]))
    assert r.status_code == 200

    rows = await _rows(portal)
    assert [(row.api_key_id, row.org_id, row.user_id) for row in rows] == [
        (ci["id"], team.org_id, team.admin.id),
        (ci["id"], team.org_id, team.admin.id),
        (bots["id"], team.org_id, team.owner.id),
        (bots["id"], team.org_id, team.owner.id),
        (personal["id"], None, team.member.id),
    ]
    assert {(row.prompt_tokens, row.completion_tokens, row.status) for row in rows} == {
        (11, 6, "success")
    }

    usage = await team.member.client.get(f"/api/orgs/{team.org_id}/usage?days=7")
    assert usage.status_code == 200, usage.text
    body = usage.json()
    assert body["days"] == 7
    assert body["totals"] == {"requests": 4, "tokens": 68, "cost": 2.32, "errors": 0}
    assert (
        body["byMember"]
        == [
            {
                "userId": team.admin.id,
                "name": "Adam Admin",
                "email": team.admin.user.email,
                "requests": 2,
                "tokens": 34,
                "cost": 1.16,
                "errors": 0,
            },
            {
                "userId": team.owner.id,
                "name": "Olive Owner",
                "email": team.owner.user.email,
                "requests": 2,
                "tokens": 34,
                "cost": 1.16,
                "errors": 0,
            },
        ]
        or body["byMember"][::-1]
    )
    assert sorted((k["keyId"], k["name"], k["requests"]) for k in body["byKey"]) == sorted(
        [(ci["id"], "CI", 2), (bots["id"], "Bots", 2)]
    )

    history = await team.member.client.get(f"/api/orgs/{team.org_id}/usage/requests?limit=3")
    page = history.json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 3, 0)
    assert [(e["keyId"], e["userId"]) for e in page["requests"]] == [
        (bots["id"], team.owner.id),
        (bots["id"], team.owner.id),
        (ci["id"], team.admin.id),
    ]
    first = page["requests"][2]
    assert (first["model"], first["promptTokens"], first["completionTokens"]) == ("priced", 11, 6)
    assert (first["totalTokens"], first["cost"], first["status"]) == (17, 0.58, "success")
    rest = await team.member.client.get(f"/api/orgs/{team.org_id}/usage/requests?limit=3&offset=3")
    assert [e["keyId"] for e in rest.json()["requests"]] == [ci["id"]]
    only_ci = await team.member.client.get(
        f"/api/orgs/{team.org_id}/usage/requests?keyId={ci['id']}"
    )
    assert only_ci.json()["total"] == 2
    by_owner = await team.member.client.get(
        f"/api/orgs/{team.org_id}/usage/requests?userId={team.owner.id}"
    )
    assert by_owner.json()["total"] == 2

    # The key's own usage, as /api/keys/:id/usage answers it.
    key_usage = await team.member.client.get(f"/api/orgs/{team.org_id}/keys/{ci['id']}/usage")
    assert key_usage.json()["stats"]["totalRequests"] == 2
    assert key_usage.json()["apiKey"] == {"id": ci["id"], "name": "CI", "totalTokensUsed": 34}
    requests = await team.member.client.get(f"/api/orgs/{team.org_id}/keys/{ci['id']}/requests")
    assert [d["requests"] for d in requests.json()["requests"]] == [2]

    # Outsiders see none of it.
    assert (await caller.get(f"/api/orgs/{team.org_id}/usage")).status_code == 404
    assert (await caller.get(f"/api/orgs/{team.org_id}/usage/requests")).status_code == 404


async def test_usage_query_validation(gw_people: People) -> None:
    team = await gw_people.team()
    client = team.member.client
    for query, message in [
        ("days=0", "days: Input should be greater than or equal to 1"),
        ("days=367", "days: Input should be less than or equal to 366"),
    ]:
        r = await client.get(f"/api/orgs/{team.org_id}/usage?{query}")
        assert (r.status_code, r.json()) == (400, {"error": message})
    for query, message in [
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("limit=101", "limit: Input should be less than or equal to 100"),
        ("offset=-1", "offset: Input should be greater than or equal to 0"),
        ("keyId=", "keyId: String should have at least 1 character"),
    ]:
        r = await client.get(f"/api/orgs/{team.org_id}/usage/requests?{query}")
        assert (r.status_code, r.json()) == (400, {"error": message})
    empty = (await client.get(f"/api/orgs/{team.org_id}/usage")).json()
    assert empty["totals"] == {"requests": 0, "tokens": 0, "cost": 0.0, "errors": 0}
    assert (empty["byMember"], empty["byKey"]) == ([], [])


async def test_an_org_key_cannot_name_a_chat_session(gw_people: People) -> None:
    team = await gw_people.team(plan="UNLIMITED")
    secret = (await _org_key(team))["key"]
    session = await team.admin.client.post("/api/chat/sessions", json={"title": "private"})
    assert session.status_code == 201
    body = {**CHAT, "session_id": session.json()["id"]}
    r = await team.outsider.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
    assert (r.status_code, r.json()) == (
        403,
        {"error": "An organization API key cannot use session_id or attachments"},
    )
    messages = await team.admin.client.get(f"/api/chat/sessions/{session.json()['id']}/messages")
    assert messages.json()["messages"] == []


async def test_the_usage_summary_and_filters_of_an_org(gw_people: People) -> None:
    """/api/usage/summary?orgId= is every member's use of the org's keys, in the summary's own
    shape; members read it, outsiders and other orgs' members get 404."""
    team = await gw_people.team(plan="UNLIMITED")
    other_team = await gw_people.team("Globex")
    portal: Portal = gw_people.app.state.portal
    ci = await _org_key(team, "CI", by=team.admin)
    bots = await _org_key(team, "Bots", by=team.owner)
    personal = await create_key(team.admin.client)
    for secret in (ci["key"], ci["key"], bots["key"], personal["key"]):
        r = await team.outsider.client.post(
            "/v1/chat/completions", json=CHAT, headers=bearer(secret)
        )
        assert r.status_code == 200, r.text
    await _rows(portal)

    summary = await team.member.client.get(f"/api/usage/summary?orgId={team.org_id}&period=7d")
    assert summary.status_code == 200, summary.text
    stats = summary.json()["stats"]
    assert (stats["totalRequests"], stats["totalTokens"], stats["totalCost"]) == (3, 51, 1.74)
    assert [m["model"] for m in summary.json()["byModel"]] == ["priced"]
    # The admin's own summary still counts what they spent through the org's key and their own.
    own = (await team.admin.client.get("/api/usage/summary?period=7d")).json()["stats"]
    assert own["totalRequests"] == 3
    only_ci = await team.member.client.get(
        f"/api/usage/summary?orgId={team.org_id}&apiKeyId={ci['id']}"
    )
    assert only_ci.json()["stats"]["totalRequests"] == 2

    filters = await team.member.client.get(f"/api/usage/filters?orgId={team.org_id}")
    assert filters.status_code == 200, filters.text
    assert filters.json() == {
        "keys": [{"id": bots["id"], "name": "Bots"}, {"id": ci["id"], "name": "CI"}],
        "models": ["priced"],
    }

    # A personal key is not the org's; another org's key neither.
    for key_id in (personal["id"], "nosuchkey"):
        r = await team.member.client.get(
            f"/api/usage/summary?orgId={team.org_id}&apiKeyId={key_id}"
        )
        assert (r.status_code, r.json()) == (404, {"error": "API key not found"})
    for who, org_id in [
        (team.outsider, team.org_id),
        (other_team.owner, team.org_id),
        (team.owner, other_team.org_id),
        (team.owner, "nosuchorg"),
    ]:
        for path in ("/api/usage/summary", "/api/usage/filters"):
            r = await who.client.get(f"{path}?orgId={org_id}")
            assert (r.status_code, r.json()) == (404, {"error": "Organization not found"}), path
    r = await team.member.client.get("/api/usage/summary?orgId=")
    assert (r.status_code, r.json()) == (400, {"error": "orgId: must not be empty"})
    transport = httpx.ASGITransport(app=gw_people.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
        r = await anonymous.get(f"/api/usage/summary?orgId={team.org_id}")
        assert r.status_code == 401

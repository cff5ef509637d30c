"""An org's USD budget and model allow-list (/api/orgs/{id}/limits): every org key is held to
them, whichever member created it, besides the key's own budget and list."""

from __future__ import annotations

from typing import Any

from tests.keys.helpers import bearer
from tests.orgs.conftest import People, Team

CHAT = {"model": "priced", "messages": [{"role": "user", "content": "Hello"}]}


async def _org_key(team: Team, by: Any, **fields: Any) -> str:
    r = await by.client.post(f"/api/orgs/{team.org_id}/keys", json={"name": "k", **fields})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def test_admins_set_the_limits_members_read_them(people: People) -> None:
    team = await people.team()
    url = f"/api/orgs/{team.org_id}/limits"
    r = await team.member.client.get(url)
    assert r.status_code == 200
    assert r.json() == {
        "maxBudget": None,
        "budgetPeriod": None,
        "budgetSpend": None,
        "budgetResetsAt": None,
        "models": None,
    }
    r = await team.admin.client.patch(
        url, json={"maxBudget": "12.5", "budgetPeriod": "monthly", "models": ["gpt-*", "gpt-*"]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["maxBudget"], body["budgetPeriod"], body["budgetSpend"]) == (12.5, "monthly", 0.0)
    assert body["models"] == ["gpt-*"] and body["budgetResetsAt"]
    assert (await team.member.client.get(url)).json() == body
    # Absent fields stay; null clears.
    r = await team.owner.client.patch(url, json={"models": None})
    assert (r.json()["models"], r.json()["maxBudget"]) == (None, 12.5)


async def test_limits_validation_roles_and_other_orgs(people: People, other_team: Team) -> None:
    team = await people.team()
    url = f"/api/orgs/{team.org_id}/limits"
    for bad in ({"maxBudget": -1}, {"maxBudget": 0}, {"budgetPeriod": "hourly"}, {"models": []}):
        r = await team.admin.client.patch(url, json=bad)
        assert r.status_code == 400, bad
        assert set(r.json()) == {"error"}
    r = await team.member.client.patch(url, json={"maxBudget": 1})
    assert (r.status_code, r.json()) == (
        403,
        {"error": "Only an admin or owner of the organization can do this"},
    )
    for client in (team.outsider.client, other_team.owner.client):
        assert (await client.get(url)).status_code == 404
        assert (await client.patch(url, json={"maxBudget": 1})).status_code == 404
    # Another org's id under one's own org is nothing either.
    r = await team.owner.client.patch(
        f"/api/orgs/{other_team.org_id}/limits", json={"models": None}
    )
    assert r.status_code == 404


async def test_the_org_allow_list_holds_every_org_key(gw_people: People) -> None:
    team = await gw_people.team(plan="UNLIMITED")
    secret = await _org_key(team, team.admin)
    caller = team.outsider.client
    url = f"/api/orgs/{team.org_id}/limits"
    assert (await team.owner.client.patch(url, json={"models": ["other-*"]})).status_code == 200
    r = await caller.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert (r.status_code, r.json()) == (
        403,
        {"error": "Model 'priced' is not allowed for this organization"},
    )
    r = await caller.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(secret)
    )
    assert r.status_code == 403
    models = await caller.get("/v1/models", headers=bearer(secret))
    assert models.json()["data"] == []
    assert (await team.owner.client.patch(url, json={"models": ["pri*"]})).status_code == 200
    r = await caller.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert r.status_code == 200, r.text
    # The key's own list still applies inside the org's.
    narrow = await _org_key(team, team.admin, models=["nothing"])
    r = await caller.post("/v1/chat/completions", json=CHAT, headers=bearer(narrow))
    assert (r.status_code, r.json()) == (
        403,
        {"error": "Model 'priced' is not allowed for this API key"},
    )


async def test_the_org_budget_is_shared_by_every_org_key(gw_people: People) -> None:
    team = await gw_people.team(plan="UNLIMITED")
    keys = [await _org_key(team, team.admin), await _org_key(team, team.owner)]
    url = f"/api/orgs/{team.org_id}/limits"
    # One answer costs $0.58 here; $1.00 a month allows two (the second with max_tokens lowered).
    r = await team.owner.client.patch(url, json={"maxBudget": 1, "budgetPeriod": "monthly"})
    assert r.status_code == 200
    statuses = []
    refusal: dict[str, Any] = {}
    for i in range(4):
        r = await team.outsider.client.post(
            "/v1/chat/completions", json=CHAT, headers=bearer(keys[i % 2])
        )
        statuses.append(r.status_code)
        if r.status_code == 429:
            refusal = r.json()
    assert statuses == [200, 200, 429, 429]
    assert refusal["error"].startswith("Budget reached for organization 'Acme'")
    spend = (await team.member.client.get(url)).json()["budgetSpend"]
    assert 1.0 <= spend <= 1.2
    # Raised, it opens again for both keys.
    assert (await team.owner.client.patch(url, json={"maxBudget": 5})).status_code == 200
    for secret in keys:
        r = await team.outsider.client.post(
            "/v1/chat/completions", json=CHAT, headers=bearer(secret)
        )
        assert r.status_code == 200, r.text

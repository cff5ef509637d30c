from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.keys.secrets import is_well_formed
from tests.fixtures.factories import login
from tests.keys.helpers import bearer, create_key

FULL_BODY = {
    "name": "Production Key",
    "description": "Main production API key",
    "permissions": ["chat", "images", "vision"],
    "ipWhitelist": ["203.0.113.0/24"],
    "dailyLimit": 10000,
    "monthlyLimit": 250000,
    "rpmLimit": 60,
    "expiresInDays": 90,
}


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def test_create_with_the_reference_body(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/keys", json=FULL_BODY)
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "Production Key"
    assert body["status"] == "ACTIVE"
    assert body["tier"] == "FREE"
    assert body["key"].startswith("sk-live-") and is_well_formed(body["key"])
    assert body["prefix"] == body["key"][:12] + "…"
    assert body["description"] == "Main production API key"
    assert body["permissions"] == ["chat", "images", "vision"]
    assert body["ipWhitelist"] == ["203.0.113.0/24"]
    assert (body["dailyLimit"], body["monthlyLimit"], body["rpmLimit"]) == (10000, 250000, 60)
    expires = _at(body["expiresAt"])
    expected = datetime.now(UTC) + timedelta(days=90)
    assert abs((expires - expected).total_seconds()) < 3600
    assert body["lastUsedAt"] is None and body["revokedAt"] is None


async def test_create_minimal_means_all_permissions_no_limits(
    user_client: httpx.AsyncClient,
) -> None:
    body = await create_key(user_client, name="  Minimal  ")
    assert body["name"] == "Minimal"
    assert body["permissions"] is None
    assert body["ipWhitelist"] == []
    assert body["expiresAt"] is None
    assert (body["dailyLimit"], body["monthlyLimit"], body["rpmLimit"]) == (None, None, None)


async def test_zero_limits_mean_no_limit(user_client: httpx.AsyncClient) -> None:
    body = await create_key(user_client, dailyLimit=0, monthlyLimit=0, rpmLimit=0)
    assert (body["dailyLimit"], body["monthlyLimit"], body["rpmLimit"]) == (None, None, None)


async def test_tier_is_the_plan_at_creation(
    client: httpx.AsyncClient, make_user: Any, portal: Any
) -> None:
    pro = await make_user(plan="PRO")
    await login(client, pro.email)
    body = await create_key(client)
    assert body["tier"] == "PRO"


async def test_whitelist_is_normalised(user_client: httpx.AsyncClient) -> None:
    body = await create_key(
        user_client, ipWhitelist=["203.0.113.7/24", "2001:db8::/32", "198.51.100.9", "::1"]
    )
    assert body["ipWhitelist"] == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.9", "::1"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"name": None}, "name: Input should be a valid string"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "   "}, "name: must not be empty"),
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
        ({"description": "d" * 1001}, "description: String should have at most 1000 characters"),
        (
            {"permissions": ["chat", "admin"]},
            "permissions: unknown permission 'admin' (known: chat, images, vision, files, library)",
        ),
        ({"permissions": "chat"}, "permissions: Input should be a valid list"),
        ({"ipWhitelist": ["203.0.113.0/24", "999.1.1.1"]}, "ipWhitelist: '999.1.1.1' is not"),
        ({"ipWhitelist": ["10.0.0.0/33"]}, "ipWhitelist: '10.0.0.0/33' is not"),
        ({"ipWhitelist": ["example.com"]}, "ipWhitelist: 'example.com' is not"),
        ({"dailyLimit": -1}, "dailyLimit: Input should be greater than or equal to 0"),
        ({"monthlyLimit": -5}, "monthlyLimit: Input should be greater than or equal to 0"),
        ({"rpmLimit": -1}, "rpmLimit: Input should be greater than or equal to 0"),
        ({"rpmLimit": "ten"}, "rpmLimit: Input should be a valid integer"),
        ({"dailyLimit": 1.5}, "dailyLimit: Input should be a valid integer"),
        ({"dailyLimit": True}, "dailyLimit: Input should be a valid integer"),
        ({"expiresInDays": 0}, "expiresInDays: Input should be greater than or equal to 1"),
        ({"expiresInDays": 3651}, "expiresInDays: Input should be less than or equal to 3650"),
    ],
)
async def test_create_validation(
    user_client: httpx.AsyncClient, patch: dict[str, Any], message: str
) -> None:
    r = await user_client.post("/api/keys", json={"name": "K", **patch})
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)
    assert (await user_client.get("/api/keys")).json() == {"keys": []}


async def test_create_needs_a_name(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/keys", json={"permissions": ["chat"]})
    assert r.status_code == 400
    assert r.json() == {"error": "name is required"}


async def test_free_plan_allows_one_key(user_client: httpx.AsyncClient) -> None:
    await create_key(user_client)
    r = await user_client.post("/api/keys", json={"name": "Second"})
    assert r.status_code == 403
    assert "Free plan allows 1 API key" in r.json()["error"]
    assert len((await user_client.get("/api/keys")).json()["keys"]) == 1


async def test_revoked_keys_still_count_and_deleting_frees_a_slot(
    user_client: httpx.AsyncClient,
) -> None:
    key = await create_key(user_client)
    await user_client.post(f"/api/keys/{key['id']}/revoke", json={})
    assert (await user_client.post("/api/keys", json={"name": "B"})).status_code == 403
    assert (await user_client.delete(f"/api/keys/{key['id']}")).status_code == 200
    await create_key(user_client, name="B")


async def test_pro_plan_allows_ten_keys(client: httpx.AsyncClient, make_user: Any) -> None:
    pro = await make_user(plan="PRO")
    await login(client, pro.email)
    for i in range(10):
        await create_key(client, name=f"k{i}")
    r = await client.post("/api/keys", json={"name": "eleventh"})
    assert r.status_code == 403
    assert "Pro plan allows 10 API keys" in r.json()["error"]


async def test_concurrent_creates_respect_the_plan_cap(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    pro = await make_user(plan="PRO")
    await login(client, pro.email)
    results = await asyncio.gather(
        *(client.post("/api/keys", json={"name": f"k{i}"}) for i in range(14))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 10 + [403] * 4, [r.text for r in results if r.status_code >= 400]
    assert len((await client.get("/api/keys")).json()["keys"]) == 10


async def test_list_shows_own_keys_newest_first_without_secrets(
    client: httpx.AsyncClient, other_user_client: httpx.AsyncClient, make_user: Any
) -> None:
    pro = await make_user(plan="PRO")
    await login(client, pro.email)
    first = await create_key(client, name="first")
    second = await create_key(client, name="second")
    await create_key(other_user_client, name="theirs")
    r = await client.get("/api/keys")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert [k["id"] for k in keys] == [second["id"], first["id"]]
    assert all("key" not in k for k in keys)
    assert all(k["prefix"].startswith("sk-live-") and k["prefix"].endswith("…") for k in keys)


async def test_get_key(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, **FULL_BODY)
    r = await user_client.get(f"/api/keys/{key['id']}")
    assert r.status_code == 200
    body = r.json()
    assert "key" not in body
    assert body["name"] == "Production Key" and body["rpmLimit"] == 60


async def test_expired_key_lists_as_expired(user_client: httpx.AsyncClient, portal: Any) -> None:
    key = await create_key(user_client, expiresInDays=1)
    await _set_expiry(portal, key["id"], datetime.now(UTC) - timedelta(minutes=1))
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["status"] == "EXPIRED"
    assert (await user_client.get("/api/keys")).json()["keys"][0]["status"] == "EXPIRED"


async def _set_expiry(portal: Any, key_id: str, when: datetime) -> None:
    from sqlalchemy import update

    from llmportal.db import transaction
    from llmportal.keys.models import ApiKey

    async with transaction(portal.sessionmaker) as db:
        await db.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=when))


async def test_patch_changes_only_what_is_sent(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, **FULL_BODY)
    r = await user_client.patch(
        f"/api/keys/{key['id']}",
        json={"name": "Renamed", "permissions": ["files"], "rpmLimit": 5, "ipWhitelist": []},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "Renamed"
    assert body["permissions"] == ["files"]
    assert body["rpmLimit"] == 5
    assert body["ipWhitelist"] == []
    assert body["description"] == "Main production API key"
    assert body["dailyLimit"] == 10000
    assert body["expiresAt"] == key["expiresAt"]
    again = (await user_client.get(f"/api/keys/{key['id']}")).json()
    assert again == body


async def test_patch_nulls_clear(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, **FULL_BODY)
    r = await user_client.patch(
        f"/api/keys/{key['id']}",
        json={"permissions": None, "dailyLimit": None, "expiresInDays": None, "description": None},
    )
    body = r.json()
    assert body["permissions"] is None
    assert body["dailyLimit"] is None
    assert body["expiresAt"] is None
    assert body["description"] is None
    assert body["monthlyLimit"] == 250000


async def test_reactivate_expired_key_points_to_the_expiry(
    user_client: httpx.AsyncClient, portal: Any
) -> None:
    key = await create_key(user_client, expiresInDays=1)
    await _set_expiry(portal, key["id"], datetime.now(UTC) - timedelta(minutes=1))
    r = await user_client.post(f"/api/keys/{key['id']}/reactivate")
    assert r.status_code == 409
    assert r.json() == {"error": "API key is expired, not revoked: set a new expiresInDays"}


async def test_patch_new_expiry_revives_an_expired_key(
    user_client: httpx.AsyncClient, portal: Any
) -> None:
    key = await create_key(user_client, expiresInDays=1)
    await _set_expiry(portal, key["id"], datetime.now(UTC) - timedelta(minutes=1))
    r = await user_client.patch(f"/api/keys/{key['id']}", json={"expiresInDays": 30})
    assert r.json()["status"] == "ACTIVE"
    r = await user_client.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"name": None}, "name: must not be empty"),
        ({"name": ""}, "name: must not be empty"),
        ({"permissions": ["root"]}, "permissions: unknown permission 'root'"),
        ({"ipWhitelist": ["1.2.3.4", "1.2.3.4.5"]}, "ipWhitelist: '1.2.3.4.5' is not"),
        ({"dailyLimit": -1}, "dailyLimit: Input should be greater than or equal to 0"),
        ({"expiresInDays": -3}, "expiresInDays: Input should be greater than or equal to 1"),
    ],
)
async def test_patch_validation(
    user_client: httpx.AsyncClient, patch: dict[str, Any], message: str
) -> None:
    key = await create_key(user_client, name="Keep")
    r = await user_client.patch(f"/api/keys/{key['id']}", json=patch)
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["name"] == "Keep"


async def test_delete(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    r = await user_client.delete(f"/api/keys/{key['id']}")
    assert r.status_code == 200
    assert r.json() == {"success": True}
    assert (await user_client.get(f"/api/keys/{key['id']}")).status_code == 404
    r = await user_client.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid API key"}


async def test_regenerate_answers_like_create(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, **FULL_BODY)
    r = await user_client.post(f"/api/keys/{key['id']}/regenerate")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == key["id"] and body["name"] == key["name"]
    assert body["status"] == "ACTIVE" and body["tier"] == "FREE"
    assert is_well_formed(body["key"]) and body["key"] != key["key"]
    assert body["prefix"] == body["key"][:12] + "…"
    assert body["permissions"] == FULL_BODY["permissions"]


async def test_revoke_keeps_reason_and_reactivate(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    r = await user_client.post(f"/api/keys/{key['id']}/revoke", json={"reason": "Leaked in CI"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "REVOKED"
    assert body["revokedReason"] == "Leaked in CI"
    assert body["revokedAt"] is not None
    listed = (await user_client.get("/api/keys")).json()["keys"][0]
    assert (listed["status"], listed["revokedReason"]) == ("REVOKED", "Leaked in CI")

    again = await user_client.post(f"/api/keys/{key['id']}/revoke")
    assert again.status_code == 409
    assert again.json() == {"error": "API key is already revoked"}

    r = await user_client.post(f"/api/keys/{key['id']}/reactivate")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["revokedAt"], body["revokedReason"]) == ("ACTIVE", None, None)
    r = await user_client.get("/api/user/profile", headers=bearer(key["key"]))
    assert r.status_code == 200


async def test_revoke_without_body(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    r = await user_client.post(f"/api/keys/{key['id']}/revoke")
    assert r.status_code == 200
    assert r.json()["revokedReason"] is None


async def test_revoke_reason_too_long(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    r = await user_client.post(f"/api/keys/{key['id']}/revoke", json={"reason": "r" * 501})
    assert r.status_code == 400
    assert r.json()["error"].startswith("reason: String should have at most 500 characters")
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["status"] == "ACTIVE"


async def test_reactivate_active_key_is_409(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    r = await user_client.post(f"/api/keys/{key['id']}/reactivate")
    assert r.status_code == 409
    assert r.json() == {"error": "API key is not revoked"}


ENDPOINTS = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/regenerate"),
    ("POST", "/revoke"),
    ("POST", "/reactivate"),
    ("GET", "/usage"),
    ("GET", "/requests"),
]


@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
async def test_other_users_key_is_404(
    user_client: httpx.AsyncClient,
    other_user_client: httpx.AsyncClient,
    method: str,
    suffix: str,
) -> None:
    theirs = await create_key(other_user_client, name="theirs")
    r = await user_client.request(method, f"/api/keys/{theirs['id']}{suffix}", json={})
    assert r.status_code == 404
    assert r.json() == {"error": "API key not found"}
    unknown = await user_client.request(method, f"/api/keys/nope{suffix}", json={})
    assert unknown.status_code == 404
    still = (await other_user_client.get(f"/api/keys/{theirs['id']}")).json()
    assert still["status"] == "ACTIVE" and still["name"] == "theirs"
    r = await other_user_client.get("/api/user/profile", headers=bearer(theirs["key"]))
    assert r.status_code == 200


ALL_ENDPOINTS = [("GET", "/api/keys"), ("POST", "/api/keys")] + [
    (m, "/api/keys/{id}" + s) for m, s in ENDPOINTS
]


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
async def test_needs_authentication(
    client: httpx.AsyncClient, user_client: httpx.AsyncClient, method: str, path: str
) -> None:
    key = await create_key(user_client)
    client.cookies.clear()
    r = await client.request(method, path.format(id=key["id"]), json={"name": "x"})
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication required"}


@pytest.mark.parametrize(("method", "path"), ALL_ENDPOINTS)
async def test_api_key_cannot_manage_keys(
    app: Any, user_client: httpx.AsyncClient, method: str, path: str
) -> None:
    key = await create_key(user_client)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        r = await c.request(
            method, path.format(id=key["id"]), json={"name": "x"}, headers=bearer(key["key"])
        )
    assert r.status_code == 403
    assert r.json() == {"error": "This endpoint requires a browser session"}
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["status"] == "ACTIVE"

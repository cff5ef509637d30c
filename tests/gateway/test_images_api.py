"""POST /v1/images/generations and /api/images/generations: the key's `images` permission, the
price per image in the usage rows, the summary and the key's usage, saving to the library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from llmportal.portal import Portal
from llmportal.quota.service import build_quota
from llmportal.users.models import User
from tests.fixtures.upstreams import PNG_B64, FakeUpstream
from tests.gateway.conftest import FakeKeys, only_usage, wait_usage
from tests.gateway.wiring import KeyMaker, api_key, other_chat
from tests.keys.test_usage import add_usage

__all__ = ["api_key", "other_chat"]

PATHS = ("/v1/images/generations", "/api/images/generations")
BODY = {"model": "painter", "prompt": "a red fox in the snow"}


@pytest.mark.parametrize("path", PATHS)
async def test_both_prefixes_answer(chat: httpx.AsyncClient, gw_portal: Portal, path: str) -> None:
    r = await chat.post(path, json={**BODY, "n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 1700000000
    assert [d["url"] for d in body["data"]] == [
        "https://images.example.com/0.png",
        "https://images.example.com/1.png",
    ]
    row = await only_usage(gw_portal)
    assert (row.images, row.image_cost_micros, row.prompt_tokens) == (2, 80_000, 6)


async def test_images_cost_in_the_summary_and_the_key_usage(
    gw_client: httpx.AsyncClient, gw_user: User, gw_portal: Portal, api_key: KeyMaker
) -> None:
    headers = await api_key(gw_user, ["images"])
    for n in (1, 2):  # 3 images at $0.04
        r = await gw_client.post("/v1/images/generations", json={**BODY, "n": n}, headers=headers)
        assert r.status_code == 200, r.text
    rows = await wait_usage(gw_portal, 2)
    key_id = rows[0].api_key_id
    assert key_id is not None
    from tests.fixtures import factories

    await factories.login(gw_client, gw_user.email)
    summary = (await gw_client.get("/api/usage/summary")).json()
    assert summary["costBreakdown"]["imagesCost"] == 0.12
    assert summary["costBreakdown"]["total"] == 0.12
    (painter,) = [m for m in summary["byModel"] if m["model"] == "painter"]
    assert (painter["requests"], painter["cost"]) == (2, 0.12)
    assert sum(d["cost"] for d in summary["dailyUsage"]) == pytest.approx(0.12)
    usage = (await gw_client.get(f"/api/keys/{key_id}/usage")).json()
    assert sum(d["cost"] for d in usage["dailyUsage"]) == pytest.approx(0.12)
    assert usage["stats"]["totalRequests"] == 2


async def test_a_key_without_images_is_403_and_images_alone_suffices(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    fake_keys.keys["chat-only"] = ["chat"]
    fake_keys.keys["images-only"] = ["images"]
    r = await gw_client.post(PATHS[0], json=BODY, headers={"x-api-key": "chat-only"})
    assert r.status_code == 403
    assert r.json() == {"error": "This API key lacks the 'images' permission"}
    r = await gw_client.post(PATHS[0], json=BODY, headers={"x-api-key": "images-only"})
    assert r.status_code == 200, r.text
    assert (await gw_client.post(PATHS[0], json=BODY)).status_code == 401


async def test_saved_to_the_library(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    body = {**BODY, "n": 2, "response_format": "b64_json", "save_to_library": True}
    r = await chat.post(PATHS[0], json=body)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [d["b64_json"] for d in data] == [PNG_B64, PNG_B64]
    ids = [d["library_item_id"] for d in data]
    assert len(set(ids)) == 2
    item = (await chat.get(f"/api/stuff/{ids[0]}")).json()
    assert (item["type"], item["title"], item["mimeType"]) == ("IMAGE", BODY["prompt"], "image/png")
    download = await chat.get(item["url"])
    assert download.status_code == 200
    assert download.content == base64.b64decode(PNG_B64)


async def test_saving_needs_the_library_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    fake_keys.keys["images-only"] = ["images"]
    body = {**BODY, "response_format": "b64_json", "save_to_library": True}
    r = await gw_client.post(PATHS[0], json=body, headers={"x-api-key": "images-only"})
    assert r.status_code == 403
    assert "library" in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.http_status, row.images) == (403, 0)


async def test_another_user_sees_neither_usage_nor_saved_images(
    chat: httpx.AsyncClient, other_chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    body = {**BODY, "response_format": "b64_json", "save_to_library": True}
    item_id = (await chat.post(PATHS[0], json=body)).json()["data"][0]["library_item_id"]
    await wait_usage(gw_portal)
    assert (await other_chat.get(f"/api/stuff/{item_id}")).status_code == 404
    theirs = (await other_chat.get("/api/usage/summary")).json()
    assert theirs["stats"]["totalRequests"] == 0 and theirs["costBreakdown"]["imagesCost"] == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "painter"}, 400, "prompt is required"),
        ({"prompt": "x"}, 400, "model is required"),
        ({"model": "painter", "prompt": "x", "n": "two"}, 400, "n: must be an integer"),
        ({"model": "oa-plain", "prompt": "x"}, 400, "does not serve images"),
        ({"model": "nope", "prompt": "x"}, 404, "Model 'nope' not found"),
    ],
)
async def test_bad_bodies_are_recorded(
    chat: httpx.AsyncClient, gw_portal: Portal, body: dict[str, object], status: int, message: str
) -> None:
    r = await chat.post(PATHS[1], json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status, row.image_cost_micros) == ("error", status, 0)


async def test_in_the_openapi_document(gw_client: httpx.AsyncClient) -> None:
    paths = (await gw_client.get("/openapi.json")).json()["paths"]
    for path in PATHS:
        assert "requestBody" in paths[path]["post"]
        assert "200" in paths[path]["post"]["responses"]


async def test_a_used_up_token_allowance_refuses_with_retry_after(
    chat: httpx.AsyncClient, gw_user: User, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    gw_portal.services["quota"] = build_quota(gw_portal)
    now = datetime.now(UTC)
    await add_usage(gw_portal, gw_user.id, None, earlier=(now, 1000, 0, 0, 100, "success"))
    before = len(fake_upstream.requests)
    r = await chat.post(PATHS[0], json=BODY)
    assert r.status_code == 429
    assert r.json() == {"error": "Monthly token limit reached"}
    assert int(r.headers["retry-after"]) > 0
    assert len(fake_upstream.requests) == before

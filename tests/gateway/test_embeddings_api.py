"""POST /v1/embeddings and /api/embeddings treated as the chat completions are: authentication,
the key's `chat` permission, the plan's token limit, usage rows and cost, the OpenAPI document."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

import httpx
import pytest

from llmportal.portal import Portal
from llmportal.quota.service import build_quota
from llmportal.users.models import User
from tests.fixtures.upstreams import FakeUpstream, fake_vector
from tests.gateway.conftest import FakeKeys, only_usage, wait_usage
from tests.gateway.wiring import KeyMaker, api_key, other_chat
from tests.keys.test_usage import add_usage

__all__ = ["api_key", "other_chat"]

PATHS = ("/v1/embeddings", "/api/embeddings")
BODY = {"model": "embed", "input": ["one two", "three"]}


@pytest.mark.parametrize("path", PATHS)
async def test_both_prefixes_answer_a_list(
    chat: httpx.AsyncClient, gw_portal: Portal, path: str
) -> None:
    r = await chat.post(path, json=BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == "embed"
    assert [d["embedding"] for d in body["data"]] == [fake_vector("one two"), fake_vector("three")]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    row = await only_usage(gw_portal)
    assert (row.model, row.status, row.prompt_tokens, row.stream) == ("embed", "success", 3, False)


async def test_base64_is_little_endian_float32(chat: httpx.AsyncClient) -> None:
    r = await chat.post("/v1/embeddings", json={**BODY, "encoding_format": "base64"})
    encoded = r.json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert [round(x, 5) for x in decoded] == [round(x, 5) for x in fake_vector("one two")]


async def test_needs_authentication_and_the_chat_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys
) -> None:
    for path in PATHS:
        assert (await gw_client.post(path, json=BODY)).status_code == 401
    fake_keys.keys["files-only"] = ["files"]
    r = await gw_client.post("/v1/embeddings", json=BODY, headers={"x-api-key": "files-only"})
    assert r.status_code == 403
    assert "chat" in r.json()["error"]


async def test_a_real_key_is_attributed_and_others_see_nothing(
    gw_client: httpx.AsyncClient,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    other_chat: httpx.AsyncClient,
) -> None:
    headers = await api_key(gw_user, ["chat"])
    assert (await gw_client.post("/v1/embeddings", json=BODY, headers=headers)).status_code == 200
    row = await only_usage(gw_portal)
    assert row.api_key_id is not None and row.user_id == gw_user.id
    theirs = (await other_chat.get("/api/usage/summary")).json()["stats"]["totalRequests"]
    assert theirs == 0


async def test_the_token_limit_refuses_with_retry_after(
    chat: httpx.AsyncClient, gw_user: User, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    gw_portal.services["quota"] = build_quota(gw_portal)
    now = datetime.now(UTC)
    await add_usage(gw_portal, gw_user.id, None, earlier=(now, 990, 8, 0, 100, "success"))
    # 2 tokens left: "hi" fits (counted exactly, though its bytes bound would not)...
    r = await chat.post("/v1/embeddings", json={"model": "embed", "input": "hi"})
    assert r.status_code == 200, r.text
    before = len(fake_upstream.requests)
    r = await chat.post("/v1/embeddings", json={"model": "embed", "input": "a longer input " * 5})
    assert r.status_code == 429
    assert r.json() == {"error": "Monthly token limit reached"}
    assert int(r.headers["retry-after"]) > 0
    assert len(fake_upstream.requests) == before
    rows = await wait_usage(gw_portal, 3)
    assert sorted(r.http_status for r in rows if r.model == "embed") == [200, 429]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "embed"}, 400, "input is required"),
        ({"input": "hi"}, 400, "model is required"),
        ({"model": "embed", "input": {"a": 1}}, 400, "input: must be an array"),
        ({"model": "oa-plain", "input": "hi"}, 400, "does not serve embeddings"),
        ({"model": "nope", "input": "hi"}, 404, "Model 'nope' not found"),
    ],
)
async def test_bad_bodies_are_recorded(
    chat: httpx.AsyncClient, gw_portal: Portal, body: dict[str, object], status: int, message: str
) -> None:
    r = await chat.post("/api/embeddings", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status) == ("error", status)


async def test_not_json_is_a_400(chat: httpx.AsyncClient) -> None:
    r = await chat.post(
        "/v1/embeddings", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "Request body must be a JSON object"}


async def test_in_the_openapi_document(gw_client: httpx.AsyncClient) -> None:
    paths = (await gw_client.get("/openapi.json")).json()["paths"]
    for path in PATHS:
        assert "requestBody" in paths[path]["post"]
        assert "200" in paths[path]["post"]["responses"]

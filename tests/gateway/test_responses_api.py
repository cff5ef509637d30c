"""POST /v1/responses and /api/responses treated as the chat completions are: authentication,
the key's permission, the plan's token limit, usage rows, the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from llmportal.portal import Portal
from llmportal.quota.service import QuotaService, build_quota
from llmportal.users.models import User
from tests.fixtures.upstreams import TEXT, FakeUpstream
from tests.gateway.conftest import FakeKeys, only_usage, sse_data, wait_usage
from tests.gateway.wiring import KeyMaker, api_key, other_chat
from tests.keys.test_usage import add_usage

__all__ = ["api_key", "other_chat"]

PATHS = ("/v1/responses", "/api/responses")
BODY = {"model": "oa-plain", "input": "Hello"}


@pytest.mark.parametrize("path", PATHS)
async def test_both_prefixes_answer_a_response(
    chat: httpx.AsyncClient, gw_portal: Portal, path: str
) -> None:
    r = await chat.post(path, json=BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0] == {
        "type": "output_text",
        "text": TEXT,
        "annotations": [],
    }
    assert body["store"] is False and body["tools"] == [] and body["tool_choice"] == "auto"
    row = await only_usage(gw_portal)
    assert (row.model, row.status) == ("oa-plain", "success")
    assert body["usage"]["input_tokens"] == row.prompt_tokens > 0
    assert body["usage"]["output_tokens"] == row.completion_tokens > 0


async def test_the_stream_is_typed_events(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    r = await chat.post("/v1/responses", json={**BODY, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    events = sse_data(r.text)
    assert names == [e["type"] for e in events]
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[-1] == "response.completed" and "[DONE]" not in r.text
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == TEXT == events[-1]["response"]["output"][0]["content"][0]["text"]
    (row,) = await wait_usage(gw_portal)
    assert (row.status, row.stream) == ("success", True)


async def test_needs_authentication_and_the_chat_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    for path in PATHS:
        r = await gw_client.post(path, json=BODY)
        assert r.status_code == 401
    fake_keys.keys["files-only"] = ["files"]
    r = await gw_client.post("/v1/responses", json=BODY, headers={"x-api-key": "files-only"})
    assert r.status_code == 403
    assert "chat" in r.json()["error"]


async def test_a_real_key_is_attributed_in_usage(
    gw_client: httpx.AsyncClient, gw_user: User, gw_portal: Portal, api_key: KeyMaker
) -> None:
    headers = await api_key(gw_user, ["chat"])
    r = await gw_client.post("/v1/responses", json=BODY, headers=headers)
    assert r.status_code == 200, r.text
    row = await only_usage(gw_portal)
    assert row.api_key_id is not None and row.user_id == gw_user.id


async def test_another_user_sees_none_of_it(
    chat: httpx.AsyncClient, other_chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    assert (await chat.post("/v1/responses", json=BODY)).status_code == 200
    await wait_usage(gw_portal)
    mine = (await chat.get("/api/usage/summary")).json()["stats"]["totalRequests"]
    theirs = (await other_chat.get("/api/usage/summary")).json()["stats"]["totalRequests"]
    assert (mine, theirs) == (1, 0)


async def test_the_token_limit_clamps_then_refuses(
    chat: httpx.AsyncClient, gw_user: User, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    quota: QuotaService = build_quota(gw_portal)
    gw_portal.services["quota"] = quota
    now = datetime.now(UTC)
    await add_usage(gw_portal, gw_user.id, None, earlier=(now, 900, 60, 0, 100, "success"))
    r = await chat.post("/v1/responses", json={**BODY, "max_output_tokens": 500})
    assert r.status_code == 200, r.text
    assert fake_upstream.requests[-1]["body"]["max_tokens"] < 40  # what the plan has left
    statuses = []
    for _ in range(4):  # each answer costs 17 tokens: 977 -> 994 -> 1011
        r = await chat.post("/v1/responses", json=BODY)
        statuses.append(r.status_code)
    assert statuses == [200, 200, 429, 429]
    before = len(fake_upstream.requests)
    r = await chat.post("/v1/responses", json=BODY)
    assert r.status_code == 429
    assert r.json() == {"error": "Monthly token limit reached"}
    assert int(r.headers["retry-after"]) > 0
    assert len(fake_upstream.requests) == before


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "oa-plain"}, 400, "input is required"),
        ({"input": "hi"}, 400, "model is required"),
        ({"model": "oa-plain", "input": 5}, 400, "input: must be an array"),
        ({"model": "oa-plain", "input": "x", "conversation": "c1"}, 400, "conversation"),
        ({"model": "oa-plain", "input": "x", "background": True}, 400, "background"),
        ({"model": "nope", "input": "hi"}, 404, "Model 'nope' not found"),
    ],
)
async def test_bad_bodies_are_recorded(
    chat: httpx.AsyncClient,
    gw_portal: Portal,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    r = await chat.post("/api/responses", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status) == ("error", status)


async def test_an_image_needs_the_vision_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys
) -> None:
    fake_keys.keys["chat-only"] = ["chat"]
    image = {"type": "input_image", "image_url": "https://example.com/cat.png"}
    body = {
        "model": "vision-model",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "What?"}, image]}],
    }
    r = await gw_client.post("/v1/responses", json=body, headers={"x-api-key": "chat-only"})
    assert r.status_code == 403
    assert "vision" in r.json()["error"]


async def test_in_the_openapi_document(gw_client: httpx.AsyncClient) -> None:
    paths = (await gw_client.get("/openapi.json")).json()["paths"]
    for path in PATHS:
        post = paths[path]["post"]
        assert "requestBody" in post and "text/event-stream" in post["responses"]["200"]["content"]

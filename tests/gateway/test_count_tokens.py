"""Token counting: POST /v1/messages/count_tokens (Anthropic) and /api/chat/count_tokens (either
format), counted by the tokenizer the quota uses; nothing is recorded for usage."""

from __future__ import annotations

import httpx
import pytest

from llmportal.gateway.metering import prompt_text
from llmportal.gateway.tokens import count_text_tokens
from llmportal.portal import Portal
from tests.gateway.conftest import FakeKeys, usage_rows

HELLO = [{"role": "user", "content": "Hello there, how are you today?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a given location",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
}


async def count(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> int:
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"input_tokens"}
    n: int = r.json()["input_tokens"]
    return n


async def test_counts_as_the_quota_does(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    body = {"model": "an-plain", "system": "Be brief.", "messages": HELLO}
    n = await count(chat, "/v1/messages/count_tokens", body)
    # The quota's own count of the same request: the parsed prompt through the same tokenizer.
    from llmportal.gateway.formats import anthropic as anthropic_format

    req = anthropic_format.parse_request({**body, "max_tokens": 1})
    assert n == count_text_tokens(prompt_text(req)) > 5
    assert await usage_rows(gw_portal) == []


async def test_system_tools_and_length_all_count(chat: httpx.AsyncClient) -> None:
    base = {"model": "an-plain", "messages": HELLO}
    plain = await count(chat, "/v1/messages/count_tokens", base)
    with_system = await count(chat, "/v1/messages/count_tokens", {**base, "system": "Be brief."})
    with_tools = await count(chat, "/v1/messages/count_tokens", {**base, "tools": [WEATHER]})
    longer = await count(
        chat,
        "/v1/messages/count_tokens",
        {"model": "an-plain", "messages": [{"role": "user", "content": "word " * 100}]},
    )
    assert plain < with_system and plain < with_tools
    assert 95 <= longer <= 105


async def test_the_detected_route_takes_both_formats(chat: httpx.AsyncClient) -> None:
    openai_body = {"model": "oa-plain", "messages": HELLO, "stream": True}
    anthropic_body = {"model": "oa-plain", "max_tokens": 5, "system": "x", "messages": HELLO}
    assert await count(chat, "/api/chat/count_tokens", openai_body) == await count(
        chat, "/v1/messages/count_tokens", {"model": "oa-plain", "messages": HELLO}
    )
    assert await count(chat, "/api/chat/count_tokens", anthropic_body) > 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "an-plain"}, 400, "messages"),
        ({"model": "an-plain", "messages": "hi"}, 400, "messages"),
        ({"messages": HELLO}, 400, "model"),
        ({"model": "nope", "messages": HELLO}, 404, "Model 'nope' not found"),
    ],
)
async def test_bad_bodies(
    chat: httpx.AsyncClient, body: dict[str, object], status: int, message: str
) -> None:
    for path in ("/v1/messages/count_tokens", "/api/chat/count_tokens"):
        r = await chat.post(path, json=body)
        assert r.status_code == status, (path, r.text)
        assert message in r.json()["error"]


async def test_not_json_is_a_400(chat: httpx.AsyncClient) -> None:
    r = await chat.post(
        "/v1/messages/count_tokens", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "Request body must be a JSON object"}


async def test_needs_authentication_and_the_chat_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys
) -> None:
    body = {"model": "an-plain", "messages": HELLO}
    for path in ("/v1/messages/count_tokens", "/api/chat/count_tokens"):
        assert (await gw_client.post(path, json=body)).status_code == 401
    fake_keys.keys["files-only"] = ["files"]
    fake_keys.keys["chat"] = ["chat"]
    r = await gw_client.post(
        "/v1/messages/count_tokens", json=body, headers={"x-api-key": "files-only"}
    )
    assert r.status_code == 403
    assert "chat" in r.json()["error"]
    r = await gw_client.post("/v1/messages/count_tokens", json=body, headers={"x-api-key": "chat"})
    assert r.status_code == 200 and r.json()["input_tokens"] > 0


async def test_in_the_openapi_document(gw_client: httpx.AsyncClient) -> None:
    paths = (await gw_client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/messages/count_tokens", "/api/chat/count_tokens"):
        assert "requestBody" in paths[path]["post"]
        assert "200" in paths[path]["post"]["responses"]

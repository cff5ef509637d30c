"""POST /api/chat/completions, /v1/chat/completions, /v1/messages and the model lists: who may
call them, what a bad request gets, and the usage row every completion leaves."""

from __future__ import annotations

import httpx
import pytest

from llmportal.portal import Portal
from tests.gateway.conftest import FakeKeys, only_usage, usage_rows

HELLO = [{"role": "user", "content": "Hello"}]
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }
]


async def test_completion_needs_authentication(gw_client: httpx.AsyncClient) -> None:
    for path in ("/api/chat/completions", "/v1/chat/completions", "/v1/messages"):
        r = await gw_client.post(path, json={"model": "oa-plain", "messages": HELLO})
        assert r.status_code == 401, path
        assert r.json() == {"error": "Authentication required"}


async def test_unknown_api_key_is_401(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    r = await gw_client.post(
        "/v1/chat/completions",
        json={"model": "oa-plain", "messages": HELLO},
        headers={"Authorization": "Bearer sk-live-unknown"},
    )
    assert r.status_code == 401
    assert await usage_rows(gw_portal) == []


async def test_api_key_by_bearer_and_by_x_api_key(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    fake_keys.keys["k1"] = None  # all permissions
    r = await gw_client.post(
        "/v1/chat/completions",
        json={"model": "oa-plain", "messages": HELLO},
        headers={"Authorization": "Bearer k1"},
    )
    assert r.status_code == 200, r.text
    r = await gw_client.post(
        "/v1/messages",
        json={"model": "an-plain", "max_tokens": 20, "messages": HELLO},
        headers={"x-api-key": "k1", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
    rows = await usage_rows(gw_portal)
    assert [(row.model, row.api_key_id) for row in rows] == [
        ("oa-plain", "key-k1"),
        ("an-plain", "key-k1"),
    ]


async def test_key_without_chat_permission_is_403(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys
) -> None:
    fake_keys.keys["files-only"] = ["files"]
    r = await gw_client.post(
        "/api/chat/completions",
        json={"model": "oa-plain", "messages": HELLO},
        headers={"Authorization": "Bearer files-only"},
    )
    assert r.status_code == 403
    assert r.json() == {"error": "This API key lacks the 'chat' permission"}


async def test_image_needs_vision_permission(
    gw_client: httpx.AsyncClient, fake_keys: FakeKeys, gw_portal: Portal
) -> None:
    fake_keys.keys["chat-only"] = ["chat"]
    r = await gw_client.post(
        "/api/chat/completions",
        json={"model": "vision-model", "messages": IMAGE},
        headers={"Authorization": "Bearer chat-only"},
    )
    assert r.status_code == 403
    assert r.json() == {"error": "This API key lacks the 'vision' permission"}
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status, row.api_key_id) == ("error", 403, "key-chat-only")


async def test_image_needs_a_vision_model(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": IMAGE})
    assert r.status_code == 400
    assert r.json() == {"error": "Model 'oa-plain' does not accept images"}
    r = await chat.post("/api/chat/completions", json={"model": "vision-model", "messages": IMAGE})
    assert r.status_code == 200, r.text
    rows = await usage_rows(gw_portal)
    assert [(x.http_status, x.status) for x in rows] == [(400, "error"), (200, "success")]


async def test_unknown_model_is_404_and_recorded(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    r = await chat.post("/api/chat/completions", json={"model": "gpt-nope", "messages": HELLO})
    assert r.status_code == 404
    assert r.json() == {"error": "Model 'gpt-nope' not found"}
    row = await only_usage(gw_portal)
    assert (row.model, row.provider, row.status, row.http_status) == (
        "gpt-nope",
        None,
        "error",
        404,
    )
    assert row.error == "Model 'gpt-nope' not found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "oa-plain"}, "messages is required"),
        ({"model": "oa-plain", "messages": "hi"}, "messages"),
        ({"model": "oa-plain", "messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"model": "oa-plain", "messages": HELLO, "temperature": 7}, "temperature"),
        (
            {
                "model": "oa-plain",
                "messages": HELLO,
                "tools": [{"type": "function", "function": {"parameters": {}}}],
            },
            "tools[0]",
        ),
        (
            {
                "model": "oa-plain",
                "messages": HELLO,
                "tools": [{"type": "function", "function": {"name": "f", "parameters": "no"}}],
            },
            "parameters",
        ),
    ],
)
async def test_malformed_openai_bodies_are_400_naming_the_field(
    chat: httpx.AsyncClient, gw_portal: Portal, body: dict[str, object], message: str
) -> None:
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.model, row.status, row.http_status) == ("oa-plain", "error", 400)
    assert message in (row.error or "")


async def test_malformed_anthropic_body_is_400(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    r = await chat.post("/v1/messages", json={"model": "an-plain", "messages": HELLO})
    assert r.status_code == 400
    assert "max_tokens" in r.json()["error"]
    bad_tool = {
        "model": "an-plain",
        "max_tokens": 10,
        "messages": HELLO,
        "tools": [{"name": "f", "input_schema": "not a schema"}],
    }
    r = await chat.post("/v1/messages", json=bad_tool)
    assert r.status_code == 400
    assert "input_schema" in r.json()["error"]
    assert [x.http_status for x in await usage_rows(gw_portal)] == [400, 400]


async def test_body_that_is_not_a_json_object(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    for content in (b"{nope", b"[1, 2]"):
        r = await chat.post(
            "/api/chat/completions", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert r.json() == {"error": "Request body must be a JSON object"}
    assert len(await usage_rows(gw_portal)) == 2


async def test_session_id_goes_to_the_usage_record(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    session = (await chat.post("/api/chat/sessions", json={})).json()
    body = {"model": "oa-plain", "messages": HELLO, "session_id": session["id"]}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200
    assert (await only_usage(gw_portal)).session_id == session["id"]


async def test_model_lists(chat: httpx.AsyncClient) -> None:
    r = await chat.get("/api/chat/models")
    assert r.status_code == 200
    data = r.json()["data"]
    no_other = {"embeddings": False, "images": False}
    # The small model calls no tools (and gives embeddings, as configured here).
    local = {"chat": True, "vision": False, "tools": False, "embeddings": True, "images": False}
    remote = {"chat": True, "vision": False, "tools": True, **no_other}
    assert {"id": "SmolLM2-135M-Instruct", "owned_by": "llmportal", "capabilities": local} in data
    assert {"id": "katan-an", "owned_by": "llmportal", "capabilities": remote} in data
    by_id = {m["id"]: m for m in data}
    assert by_id["vision-model"]["capabilities"] == {**remote, "vision": True}
    embed_only = {
        "chat": False,
        "vision": False,
        "tools": False,
        "embeddings": True,
        "images": False,
    }
    assert by_id["embed"]["capabilities"] == embed_only
    assert all(set(m) == {"id", "owned_by", "capabilities"} for m in data)
    r = await chat.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    first = body["data"][0]
    assert set(first) == {"id", "object", "created", "owned_by", "capabilities"}
    assert {m["id"]: m["capabilities"] for m in body["data"]} == {
        m["id"]: m["capabilities"] for m in data
    }
    assert first["object"] == "model"
    assert isinstance(first["created"], int)
    assert [m["id"] for m in body["data"]] == [m["id"] for m in data]


async def test_model_lists_need_authentication(gw_client: httpx.AsyncClient) -> None:
    for path in ("/api/chat/models", "/v1/models"):
        assert (await gw_client.get(path)).status_code == 401


async def test_default_app_serves_the_bundled_model(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get("/api/chat/models")
    assert r.json() == {
        "data": [
            {
                "id": "SmolLM2-135M-Instruct",
                "owned_by": "huggingface",
                "capabilities": {
                    "chat": True,
                    "embeddings": True,  # out of the box, from the same GGUF
                    "images": False,
                    "vision": False,
                    "tools": False,
                },
            }
        ]
    }


async def test_oversized_body_is_413(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    from llmportal.bodyguard import COMPLETION_BODY_LIMIT

    body = b'{"model": "oa-plain", "messages": [{"role": "user", "content": "'
    body += b"x" * COMPLETION_BODY_LIMIT + b'"}]}'
    r = await chat.post(
        "/api/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {"error": "Request body is too large (limit 32 MB)"}


async def test_completion_endpoints_are_in_the_openapi_document(
    gw_client: httpx.AsyncClient,
) -> None:
    r = await gw_client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/chat/completions", "/v1/chat/completions", "/v1/messages"):
        assert "requestBody" in paths[path]["post"]
    assert "get" in paths["/v1/models"] and "get" in paths["/api/chat/models"]

"""Completions with session_id: the exchange is stored in the caller's chat session, in order,
once the completion has finished (streams included); another user's session is 404 before the
model is called."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmportal.deps import Principal
from llmportal.portal import Portal
from llmportal.quota.service import build_quota
from llmportal.users.models import User
from tests.fixtures.upstreams import TEXT, USAGE, WEATHER_CALLS, FakeUpstream
from tests.gateway.conftest import only_usage, usage_rows, wait_usage
from tests.gateway.wiring import KeyMaker, api_key, messages, new_session, other_chat, session_row

__all__ = ["api_key", "other_chat"]

QUESTION = "What is the weather in Athens, Greece?"


def body_for(fmt: str, model: str, session_id: str, stream: bool, **kw: Any) -> dict[str, Any]:
    prefix = "oa" if fmt == "openai" else "an"
    body: dict[str, Any] = {
        "model": f"{prefix}-{model}",
        "messages": [{"role": "user", "content": QUESTION}],
        "session_id": session_id,
        "stream": stream,
        **kw,
    }
    if fmt == "anthropic":
        body.setdefault("max_tokens", 100)
    return body


def path_for(fmt: str) -> str:
    return "/api/chat/completions" if fmt == "openai" else "/v1/messages"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
async def test_exchange_is_stored_in_order(
    chat: httpx.AsyncClient, gw_portal: Portal, fmt: str, stream: bool
) -> None:
    session = await new_session(chat)
    newer = await new_session(chat)
    r = await chat.post(path_for(fmt), json=body_for(fmt, "plain", session["id"], stream))
    assert r.status_code == 200, r.text
    if stream:
        assert "[DONE]" in r.text or "message_stop" in r.text
    stored = await messages(chat, session["id"])
    assert [(m["role"], m["content"]) for m in stored] == [("user", QUESTION), ("assistant", TEXT)]
    user_msg, reply = stored
    assert (user_msg["promptTokens"], reply["completionTokens"]) == USAGE
    assert reply["model"] == body_for(fmt, "plain", "", stream)["model"]
    row = await session_row(chat, session["id"])
    assert row["title"] == QUESTION
    assert row["updatedAt"] >= session["updatedAt"]
    listed = (await chat.get("/api/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == [session["id"], newer["id"]]  # updatedAt moved
    assert (await only_usage(gw_portal)).session_id == session["id"]


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_tool_calls_are_stored_on_the_reply(
    chat: httpx.AsyncClient, stream: bool
) -> None:
    session = await new_session(chat, title="Weather")
    r = await chat.post(
        "/api/chat/completions", json=body_for("openai", "parallel", session["id"], stream)
    )
    assert r.status_code == 200, r.text
    user_msg, reply = await messages(chat, session["id"])
    assert reply["content"] == ""
    assert reply["toolCalls"] == [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
        for cid, name, args in WEATHER_CALLS
    ]
    assert (await session_row(chat, session["id"]))["title"] == "Weather"  # titled: kept


async def test_anthropic_tool_use_is_stored_as_tool_calls(chat: httpx.AsyncClient) -> None:
    session = await new_session(chat)
    r = await chat.post("/v1/messages", json=body_for("anthropic", "tool", session["id"], True))
    assert r.status_code == 200
    _, reply = await messages(chat, session["id"])
    (call,) = reply["toolCalls"]
    assert (call["id"], call["function"]["name"]) == ("call_athens", "get_weather")
    assert "Athens, Greece" in call["function"]["arguments"]


async def test_later_turns_store_only_what_is_new(chat: httpx.AsyncClient) -> None:
    session = await new_session(chat)
    history: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    await chat.post("/api/chat/completions", json=body_for("openai", "tool", session["id"], False))
    name, args = WEATHER_CALLS[0][1:]
    history += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_athens",
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_athens", "content": "18 C, sunny"},
    ]
    body = {"model": "oa-plain", "messages": history, "session_id": session["id"]}
    assert (await chat.post("/api/chat/completions", json=body)).status_code == 200
    history += [{"role": "assistant", "content": TEXT}, {"role": "user", "content": "Thanks!"}]
    body["messages"] = history
    assert (await chat.post("/api/chat/completions", json=body)).status_code == 200
    stored = await messages(chat, session["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", QUESTION),
        ("assistant", ""),
        ("assistant", TEXT),  # the tool-result turn: the reply alone
        ("user", "Thanks!"),
        ("assistant", TEXT),
    ]


@pytest.mark.parametrize("model", ["oa-midstream", "an-midstream", "oa-error500"])
async def test_a_failed_completion_stores_nothing(
    chat: httpx.AsyncClient, gw_portal: Portal, model: str
) -> None:
    session = await new_session(chat)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": QUESTION}],
        "session_id": session["id"],
        "stream": model != "oa-error500",
    }
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code in (200, 502)
    (row,) = await wait_usage(gw_portal)
    assert row.status == "error"
    assert await messages(chat, session["id"]) == []
    assert (await session_row(chat, session["id"]))["title"] is None


@pytest.mark.parametrize("stream", [False, True])
async def test_another_users_session_is_404_before_the_model_runs(
    chat: httpx.AsyncClient,
    other_chat: httpx.AsyncClient,
    gw_portal: Portal,
    gw_user: User,
    fake_upstream: FakeUpstream,
    stream: bool,
) -> None:
    quota = gw_portal.services["quota"] = build_quota(gw_portal)
    theirs = await new_session(other_chat)
    before = len(fake_upstream.requests)
    for session_id in (theirs["id"], "cnosuchsession"):
        r = await chat.post(
            "/api/chat/completions", json=body_for("openai", "plain", session_id, stream)
        )
        assert r.status_code == 404
        assert r.json() == {"error": "Session not found"}
    assert len(fake_upstream.requests) == before
    assert await messages(other_chat, theirs["id"]) == []
    rows = await usage_rows(gw_portal)
    assert [(x.status, x.http_status, x.prompt_tokens + x.completion_tokens) for x in rows] == [
        ("error", 404, 0),
        ("error", 404, 0),
    ]
    assert await quota.remaining(Principal(user=gw_user)) == 1000  # nothing reserved or billed


async def test_api_key_with_chat_permission_stores_the_exchange(
    gw_client: httpx.AsyncClient, gw_user: User, api_key: KeyMaker
) -> None:
    headers = await api_key(gw_user, ["chat"])
    r = await gw_client.post("/api/chat/sessions", json={}, headers=headers)
    assert r.status_code == 201, r.text
    session_id = r.json()["id"]
    r = await gw_client.post(
        "/v1/chat/completions",
        json=body_for("openai", "plain", session_id, False),
        headers=headers,
    )
    assert r.status_code == 200, r.text
    r = await gw_client.get(f"/api/chat/sessions/{session_id}/messages", headers=headers)
    assert [m["role"] for m in r.json()["messages"]] == ["user", "assistant"]

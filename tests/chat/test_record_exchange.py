from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from llmportal.chat.models import ChatMessage
from llmportal.chat.service import record_exchange
from llmportal.db import transaction
from llmportal.errors import PortalError
from llmportal.portal import Portal
from tests.chat.helpers import new_message, new_session, upload

MODEL = "SmolLM2-135M-Instruct"
TOOL_CALL = {
    "id": "functions.get_weather:0",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"location": "Athens, Greece"}'},
}


async def record(portal: Portal, user: Any, session_id: str, **kw: Any) -> None:
    args: dict[str, Any] = {
        "user_message": "What is the weather in Athens, Greece?",
        "assistant_content": "I'll check the weather.",
        "tool_calls": None,
        "model": MODEL,
        "prompt_tokens": 25,
        "completion_tokens": 150,
        **kw,
    }
    async with transaction(portal.sessionmaker) as db:
        await record_exchange(db, user_id=user.id, session_id=session_id, **args)


async def test_stores_user_message_then_reply(
    portal: Portal, user: Any, user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    await new_message(user_client, session["id"], role="system", content="Be brief.")
    await record(portal, user, session["id"], tool_calls=[TOOL_CALL])
    messages = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()[
        "messages"
    ]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Be brief."),
        ("user", "What is the weather in Athens, Greece?"),
        ("assistant", "I'll check the weather."),
    ]
    user_msg, reply = messages[1], messages[2]
    assert (user_msg["totalTokens"], user_msg["promptTokens"]) == (25, 25)
    assert (reply["totalTokens"], reply["completionTokens"]) == (150, 150)
    assert reply["toolCalls"] == [TOOL_CALL]
    assert reply["model"] == MODEL
    assert "toolCalls" not in user_msg


async def test_titles_untitled_session_and_moves_it_to_the_top(
    portal: Portal, user: Any, user_client: httpx.AsyncClient
) -> None:
    untitled = await new_session(user_client)
    titled = await new_session(user_client, title="Keep me")
    newest = await new_session(user_client, title="Newest")
    await record(portal, user, untitled["id"], user_message="Explain quantum computing.")
    await record(portal, user, titled["id"], user_message="Another question")
    sessions = (await user_client.get("/api/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in sessions] == [titled["id"], untitled["id"], newest["id"]]
    assert sessions[0]["title"] == "Keep me"
    assert sessions[1]["title"] == "Explain quantum computing."
    assert sessions[1]["messageCount"] == 2
    assert sessions[1]["updatedAt"] >= untitled["updatedAt"]


async def test_reply_without_text_and_turn_without_user_text(
    portal: Portal, user: Any, user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    await record(portal, user, session["id"], assistant_content=None, tool_calls=[TOOL_CALL])
    await record(portal, user, session["id"], user_message="", assistant_content="It is 18 C.")
    messages = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()[
        "messages"
    ]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "What is the weather in Athens, Greece?"),
        ("assistant", ""),
        ("assistant", "It is 18 C."),
    ]


async def test_other_users_session_is_404_and_nothing_stored(
    portal: Portal, user: Any, other_user_client: httpx.AsyncClient
) -> None:
    theirs = await new_session(other_user_client)
    with pytest.raises(PortalError) as err:
        await record(portal, user, theirs["id"])
    assert (err.value.status, err.value.message) == (404, "Session not found")
    with pytest.raises(PortalError):
        await record(portal, user, "cdoesnotexist")
    async with transaction(portal.sessionmaker) as db:
        rows = (await db.scalars(select(ChatMessage))).all()
    assert rows == []


async def test_links_unlinked_attachments_and_names_files(
    portal: Portal, user: Any, user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    r = await upload(user_client, ("a.txt", b"first"), ("b.txt", b"second"))
    first, second = (a["id"] for a in r.json()["attachments"])
    await record(portal, user, session["id"], attachment_ids=[first])
    # Empty text but attachments: the user message is still stored; `first` keeps its message.
    await record(
        portal,
        user,
        session["id"],
        user_message="",
        attachment_ids=[first, second],
        file_ids=["f1"],
    )
    messages = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()[
        "messages"
    ]
    assert [(m["role"], [a["id"] for a in m["attachments"]]) for m in messages] == [
        ("user", [first]),
        ("assistant", []),
        ("user", [second]),
        ("assistant", []),
    ]
    assert messages[2]["metadata"] == {"files": ["f1"]}


async def test_another_users_attachment_is_404_and_nothing_stored(
    portal: Portal, user: Any, user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    r = await upload(other_user_client, ("a.txt", b"theirs"))
    theirs = r.json()["attachments"][0]["id"]
    with pytest.raises(PortalError) as err:
        await record(portal, user, session["id"], attachment_ids=[theirs])
    assert err.value.status == 404
    r = await user_client.get(f"/api/chat/sessions/{session['id']}/messages")
    assert r.json()["messages"] == []

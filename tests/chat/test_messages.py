from __future__ import annotations

import asyncio

import httpx

from llmportal.gateway.tokens import count_text_tokens
from tests.chat.helpers import new_message, new_session, upload

MODEL = "SmolLM2-135M-Instruct"


async def test_create_message_answers_201_with_tokenizer_count(
    user_client: httpx.AsyncClient,
) -> None:
    session = await new_session(user_client)
    content = "Supercalifragilisticexpialidocious antidisestablishmentarianism 🦄🦄🦄"
    assert count_text_tokens(content) != len(content) // 4
    r = await user_client.post(
        "/api/chat/messages",
        json={"sessionId": session["id"], "role": "user", "content": content, "model": MODEL},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["sessionId"] == session["id"]
    assert body["role"] == "user"
    assert body["content"] == content
    assert body["attachments"] == []
    assert body["totalTokens"] == count_text_tokens(content)
    assert body["model"] == MODEL


async def test_create_message_validation(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    cases = [
        ({"role": "user", "content": "x"}, "sessionId is required"),
        ({"sessionId": session["id"], "content": "x"}, "role is required"),
        ({"sessionId": session["id"], "role": "wizard", "content": "x"}, "role:"),
        ({"sessionId": session["id"], "role": "user", "content": 5}, "content:"),
        ({"sessionId": session["id"], "role": "user", "content": "x" * 500_001}, "content:"),
        ({"sessionId": session["id"], "role": "user", "attachments": "a"}, "attachments:"),
        ({"sessionId": session["id"], "role": "user", "attachments": [{}]}, "attachments:"),
    ]
    for body, error in cases:
        r = await user_client.post("/api/chat/messages", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"].startswith(error), (body, r.json())


async def test_create_message_unknown_model_is_404(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    r = await user_client.post(
        "/api/chat/messages",
        json={"sessionId": session["id"], "role": "user", "content": "x", "model": "nope"},
    )
    assert (r.status_code, r.json()) == (404, {"error": "Model 'nope' not found"})


async def test_create_message_in_other_users_session_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    theirs = await new_session(other_user_client)
    r = await user_client.post(
        "/api/chat/messages", json={"sessionId": theirs["id"], "role": "user", "content": "x"}
    )
    assert (r.status_code, r.json()) == (404, {"error": "Session not found"})
    assert (await other_user_client.get(f"/api/chat/sessions/{theirs['id']}/messages")).json()[
        "messages"
    ] == []


async def test_first_user_message_titles_an_untitled_session(
    user_client: httpx.AsyncClient,
) -> None:
    untitled = await new_session(user_client)
    await new_message(user_client, untitled["id"], role="system", content="Be terse.")
    await new_message(
        user_client,
        untitled["id"],
        content="  What is   machine learning, and how does it differ from classic statistics?",
    )
    await new_message(user_client, untitled["id"], content="Second question")
    titled = await new_session(user_client, title="Mine")
    await new_message(user_client, titled["id"], content="Something else")
    sessions = {
        s["id"]: s for s in (await user_client.get("/api/chat/sessions")).json()["sessions"]
    }
    title = sessions[untitled["id"]]["title"]
    assert title.startswith("What is machine learning, and how does it differ from")
    assert title.endswith("…") and len(title) <= 61
    assert sessions[titled["id"]]["title"] == "Mine"


async def test_messages_list_in_order_with_attachments(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    files = (await upload(user_client, ("data.csv", b"a,b\n1,2\n"))).json()["attachments"]
    first = await new_message(user_client, session["id"], content="one", attachments=files)
    second = await new_message(user_client, session["id"], role="assistant", content="two")
    third = await new_message(user_client, session["id"], content="three")
    r = await user_client.get(f"/api/chat/sessions/{session['id']}/messages")
    assert r.status_code == 200
    messages = r.json()["messages"]
    assert [m["id"] for m in messages] == [first["id"], second["id"], third["id"]]
    assert messages[0]["attachments"] == [
        {
            "id": files[0]["id"],
            "name": "data.csv",
            "type": "text/csv",
            "size": 8,
            "url": files[0]["url"],
        }
    ]
    assert messages[1]["attachments"] == []


async def test_attachments_link_by_id_or_url(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    a, b = (await upload(user_client, ("a.txt", b"a"), ("b.txt", b"b"))).json()["attachments"]
    msg = await new_message(
        user_client,
        session["id"],
        attachments=[
            {"id": a["id"]},
            {
                "name": "b.txt",
                "type": "text/plain",
                "size": 1,
                "url": "http://127.0.0.1:8000" + b["url"],
            },
        ],
    )
    assert [x["id"] for x in msg["attachments"]] == [a["id"], b["id"]]


async def test_attachment_reference_errors(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    mine = (await upload(user_client, ("a.txt", b"a"))).json()["attachments"][0]
    theirs = (await upload(other_user_client, ("t.txt", b"t"))).json()["attachments"][0]

    async def post(attachments: list[dict[str, str]]) -> httpx.Response:
        return await user_client.post(
            "/api/chat/messages",
            json={"sessionId": session["id"], "role": "user", "attachments": attachments},
        )

    r = await post([{"id": theirs["id"]}])
    assert (r.status_code, r.json()) == (404, {"error": "Attachment not found"})
    r = await post([{"url": theirs["url"]}])
    assert r.status_code == 404
    r = await post([{"url": "/uploads/somewhere/else.csv"}])
    assert r.status_code == 400
    assert r.json()["error"].startswith("attachments:")
    assert (await post([{"id": mine["id"]}])).status_code == 201
    r = await post([{"id": mine["id"]}])
    assert r.status_code == 400
    assert "already belongs to a message" in r.json()["error"]
    # A failed message links nothing and stores nothing.
    messages = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert len(messages["messages"]) == 1


async def test_patch_message_content_and_metadata(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    msg = await new_message(user_client, session["id"], role="assistant", content="short")
    url = f"/api/chat/messages/{msg['id']}"
    new_content = "A much longer answer about tokenizers and how they split text."
    r = await user_client.patch(url, json={"content": new_content})
    assert r.status_code == 200
    assert r.json()["content"] == new_content
    assert r.json()["totalTokens"] == count_text_tokens(new_content)

    video = {"url": "https://cdn.example/v.mp4", "duration": 12.5, "status": "done"}
    r = await user_client.patch(url, json={"videoData": video, "metadata": {"lang": "en"}})
    assert r.status_code == 200
    assert r.json()["metadata"] == {"videoData": video, "lang": "en"}
    r = await user_client.patch(url, json={"metadata": {"lang": None, "draft": False}})
    assert r.json()["metadata"] == {"videoData": video, "draft": False}

    listed = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert listed["messages"][0]["metadata"] == {"videoData": video, "draft": False}
    assert listed["messages"][0]["content"] == new_content


async def test_patch_message_errors(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    msg = await new_message(user_client, session["id"])
    url = f"/api/chat/messages/{msg['id']}"
    r = await user_client.patch(url, json={})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "content, metadata or videoData is required"},
    )
    r = await user_client.patch(url, json={"content": None})
    assert (r.status_code, r.json()) == (400, {"error": "content must not be null"})
    r = await user_client.patch(url, json={"metadata": "text"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("metadata:")
    r = await user_client.patch(url, json={"metadata": {"blob": "x" * 300_000}})
    assert r.status_code == 400
    assert r.json()["error"].startswith("metadata is too large")
    r = await other_user_client.patch(url, json={"content": "hijack"})
    assert (r.status_code, r.json()) == (404, {"error": "Message not found"})
    r = await user_client.patch("/api/chat/messages/cmissing", json={"content": "x"})
    assert r.status_code == 404
    listed = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert listed["messages"][0]["content"] == "hello"


async def test_rating_an_assistant_message(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    reply = await new_message(user_client, session["id"], role="assistant", content="answer")
    url = f"/api/chat/messages/{reply['id']}/rating"
    r = await user_client.post(url, json={"rating": "up"})
    assert (r.status_code, r.json()) == (200, {"success": True, "rating": 1})
    r = await user_client.post(url, json={"rating": "down"})  # rating again replaces
    assert (r.status_code, r.json()) == (200, {"success": True, "rating": -1})
    listed = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert listed["messages"][0]["rating"] == -1


async def test_rating_errors(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    session = await new_session(user_client)
    question = await new_message(user_client, session["id"], content="question")
    reply = await new_message(user_client, session["id"], role="assistant", content="answer")
    r = await user_client.post(f"/api/chat/messages/{question['id']}/rating", json={"rating": "up"})
    assert (r.status_code, r.json()) == (400, {"error": "Only assistant messages can be rated"})
    url = f"/api/chat/messages/{reply['id']}/rating"
    for bad in ({"rating": "meh"}, {"rating": 1}, {}):
        r = await user_client.post(url, json=bad)
        assert r.status_code == 400
        assert r.json()["error"].startswith("rating"), r.json()
    r = await other_user_client.post(url, json={"rating": "down"})
    assert (r.status_code, r.json()) == (404, {"error": "Message not found"})
    listed = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert [m["rating"] for m in listed["messages"]] == [None, None]


async def test_concurrent_messages_get_distinct_places(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    results = await asyncio.gather(
        *[
            user_client.post(
                "/api/chat/messages",
                json={"sessionId": session["id"], "role": "user", "content": f"m{i}"},
            )
            for i in range(8)
        ]
    )
    assert [r.status_code for r in results] == [201] * 8
    listed = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert sorted(m["content"] for m in listed["messages"]) == [f"m{i}" for i in range(8)]

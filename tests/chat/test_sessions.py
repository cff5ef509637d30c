from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmportal.config import Settings
from llmportal.portal import Portal
from tests.chat.helpers import new_message, new_session, stored_files, upload
from tests.conftest import KeyFactory
from tests.fixtures.api_keys import set_permissions

MODEL = "SmolLM2-135M-Instruct"


async def test_create_session_answers_201_with_empty_messages(
    user_client: httpx.AsyncClient,
) -> None:
    r = await user_client.post(
        "/api/chat/sessions", json={"title": "Quantum Physics Discussion", "model": MODEL}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["id"].startswith("c")
    assert body["title"] == "Quantum Physics Discussion"
    assert body["model"] == MODEL
    assert body["messages"] == []


async def test_create_session_title_and_model_are_optional(
    user_client: httpx.AsyncClient,
) -> None:
    body = await new_session(user_client)
    assert body["title"] is None
    assert body["model"] == MODEL  # the catalog's default model


async def test_create_session_with_unknown_model_is_404(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/chat/sessions", json={"model": "gpt-nope"})
    assert r.status_code == 404
    assert r.json() == {"error": "Model 'gpt-nope' not found"}


async def test_create_session_validates_fields(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/chat/sessions", json={"title": "x" * 201})
    assert r.status_code == 400
    assert r.json()["error"].startswith("title:")
    r = await user_client.post("/api/chat/sessions", json={"model": 42})
    assert r.status_code == 400
    assert r.json()["error"].startswith("model:")


async def test_list_shows_own_sessions_newest_activity_first(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    first = await new_session(user_client, title="first")
    second = await new_session(user_client, title="second")
    await new_session(other_user_client, title="not mine")
    r = await user_client.get("/api/chat/sessions")
    assert r.status_code == 200
    assert [s["title"] for s in r.json()["sessions"]] == ["second", "first"]

    await new_message(user_client, first["id"])  # activity moves `first` to the top
    sessions = (await user_client.get("/api/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in sessions] == [first["id"], second["id"]]
    assert sessions[0]["messageCount"] == 1
    assert sessions[1]["messageCount"] == 0


async def test_list_is_capped_at_50_most_recent(user_client: httpx.AsyncClient) -> None:
    ids = [(await new_session(user_client, title=f"s{i}"))["id"] for i in range(51)]
    sessions = (await user_client.get("/api/chat/sessions")).json()["sessions"]
    assert len(sessions) == 50
    assert ids[0] not in {s["id"] for s in sessions}
    assert sessions[0]["id"] == ids[-1]


async def test_get_session_includes_its_messages(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client, title="t")
    msg = await new_message(user_client, session["id"], content="hi there")
    r = await user_client.get(f"/api/chat/sessions/{session['id']}")
    assert r.status_code == 200
    assert r.json()["title"] == "t"
    assert [m["id"] for m in r.json()["messages"]] == [msg["id"]]


async def test_patch_session_changes_title_and_model(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client, title="old")
    r = await user_client.patch(f"/api/chat/sessions/{session['id']}", json={"title": "new"})
    assert r.status_code == 200
    assert r.json()["title"] == "new"
    assert r.json()["model"] == MODEL
    r = await user_client.patch(f"/api/chat/sessions/{session['id']}", json={"model": MODEL})
    assert r.status_code == 200
    listed = (await user_client.get("/api/chat/sessions")).json()["sessions"][0]
    assert listed["title"] == "new"


async def test_patch_session_errors(user_client: httpx.AsyncClient) -> None:
    session = await new_session(user_client)
    url = f"/api/chat/sessions/{session['id']}"
    r = await user_client.patch(url, json={})
    assert (r.status_code, r.json()) == (400, {"error": "title or model is required"})
    r = await user_client.patch(url, json={"model": None})
    assert (r.status_code, r.json()) == (400, {"error": "model must not be null"})
    r = await user_client.patch(url, json={"model": "nope"})
    assert (r.status_code, r.json()) == (404, {"error": "Model 'nope' not found"})
    r = await user_client.patch(url, json={"title": "y" * 201})
    assert r.status_code == 400
    assert r.json()["error"].startswith("title:")
    r = await user_client.patch("/api/chat/sessions/cnotthere", json={"title": "x"})
    assert r.status_code == 404


async def test_other_users_session_is_404_everywhere(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    theirs = await new_session(other_user_client, title="theirs")
    url = f"/api/chat/sessions/{theirs['id']}"
    for r in (
        await user_client.get(url),
        await user_client.patch(url, json={"title": "mine now"}),
        await user_client.delete(url),
        await user_client.get(url + "/messages"),
    ):
        assert r.status_code == 404
        assert r.json() == {"error": "Session not found"}
    assert (await other_user_client.get(url)).json()["title"] == "theirs"


async def test_delete_session_removes_messages_attachments_and_files(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    session = await new_session(user_client)
    uploaded = (await upload(user_client, ("a.txt", b"alpha"), ("b.txt", b"beta"))).json()
    linked, loose = uploaded["attachments"]
    msg = await new_message(user_client, session["id"], attachments=[{"id": linked["id"]}])
    assert len(stored_files(settings, user.id)) == 2

    r = await user_client.delete(f"/api/chat/sessions/{session['id']}")
    assert (r.status_code, r.json()) == (200, {"success": True})

    assert (await user_client.get(f"/api/chat/sessions/{session['id']}")).status_code == 404
    assert (await user_client.get(linked["url"])).status_code == 404
    r = await user_client.post(f"/api/chat/messages/{msg['id']}/rating", json={"rating": "up"})
    assert r.status_code == 404
    # The unlinked attachment belongs to the user, not to the session: it stays.
    assert (await user_client.get(loose["url"])).content == b"beta"
    assert len(stored_files(settings, user.id)) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/chat/sessions"),
        ("POST", "/api/chat/sessions"),
        ("GET", "/api/chat/sessions/cabc"),
        ("PATCH", "/api/chat/sessions/cabc"),
        ("DELETE", "/api/chat/sessions/cabc"),
        ("GET", "/api/chat/sessions/cabc/messages"),
        ("POST", "/api/chat/messages"),
        ("PATCH", "/api/chat/messages/cabc"),
        ("POST", "/api/chat/messages/cabc/rating"),
        ("POST", "/api/chat/attachments"),
        ("GET", "/api/chat/attachments/cabc"),
        ("DELETE", "/api/chat/attachments/cabc"),
    ],
)
async def test_chat_endpoints_need_authentication(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={})
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication required"}
    r = await client.request(method, path, headers={"Authorization": "Bearer sk-live-bogus"})
    assert r.status_code == 401


async def test_key_without_chat_permission_is_403(
    client: httpx.AsyncClient, portal: Portal, user: Any, key_for: KeyFactory
) -> None:
    key = await key_for(user, ["files", "images"])
    no_chat = key.headers
    for method, path in (
        ("GET", "/api/chat/sessions"),
        ("POST", "/api/chat/messages"),
        ("POST", "/api/chat/attachments"),
    ):
        r = await client.request(method, path, headers=no_chat, json={})
        assert r.status_code == 403
        assert r.json() == {"error": "This API key lacks the 'chat' permission"}

    await set_permissions(portal, key, ["chat"])
    with_chat = key.headers
    r = await client.post("/api/chat/sessions", headers=with_chat, json={"title": "via key"})
    assert r.status_code == 201
    r = await client.get("/api/chat/sessions", headers=with_chat)
    assert [s["title"] for s in r.json()["sessions"]] == ["via key"]

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.portal import Portal
from tests.chat.helpers import new_session

SESSION = "clsession000000000000001"


@pytest.fixture
async def sid(user_client: httpx.AsyncClient) -> str:
    """A chat session of `user`: every canvas belongs to one."""
    return str((await new_session(user_client, title="With a canvas"))["id"])


async def _put(client: httpx.AsyncClient, session: str, **body: Any) -> httpx.Response:
    return await client.put(f"/api/canvas/{session}", json={"content": "", **body})


async def test_empty_canvas(user_client: httpx.AsyncClient, sid: str) -> None:
    r = await user_client.get(f"/api/canvas/{sid}")
    assert r.status_code == 200
    assert r.json() == {"document": None, "versions": []}
    r = await user_client.get(f"/api/canvas/{sid}/versions")
    assert r.json() == {"versions": []}


async def test_upsert_and_load(user_client: httpx.AsyncClient, sid: str) -> None:
    r = await _put(user_client, sid, title="Draft", content="# Hello")
    assert r.status_code == 201, r.text
    doc = r.json()["document"]
    assert set(doc) == {"id", "sessionId", "title", "content", "version", "updatedAt"}
    assert (doc["sessionId"], doc["title"], doc["content"], doc["version"]) == (
        sid, "Draft", "# Hello", 1,
    )  # fmt: skip
    r = await _put(user_client, sid, title="Draft 2", content="# Hello world", version=1)
    assert r.status_code == 200
    assert r.json()["document"]["version"] == 2 and r.json()["document"]["id"] == doc["id"]
    r = await _put(user_client, sid, title="Draft 3", content="no version check")
    assert r.json()["document"]["version"] == 3
    got = (await user_client.get(f"/api/canvas/{sid}")).json()
    assert got["document"]["title"] == "Draft 3" and got["document"]["version"] == 3
    assert got["versions"] == []


async def test_stale_version_is_a_conflict(user_client: httpx.AsyncClient, sid: str) -> None:
    await _put(user_client, sid, title="A", content="one")
    await _put(user_client, sid, title="A", content="two", version=1)
    r = await _put(user_client, sid, title="A", content="three", version=1)
    assert r.status_code == 409
    body = r.json()
    assert body["currentVersion"] == 2 and "error" in body
    assert body["document"]["content"] == "two"
    got = (await user_client.get(f"/api/canvas/{sid}")).json()["document"]
    assert got["content"] == "two" and got["version"] == 2


async def test_version_for_a_missing_document_is_a_conflict(
    user_client: httpx.AsyncClient,
    sid: str,
) -> None:
    r = await _put(user_client, sid, content="x", version=4)
    assert r.status_code == 409 and r.json()["currentVersion"] == 0
    r = await _put(user_client, sid, content="x", version=0)
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "t"}, "content"),
        ({"title": "t", "content": 5}, "content"),
        ({"title": "t" * 301, "content": ""}, "title"),
        ({"content": "", "version": -1}, "version"),
        ({"content": "", "version": "two"}, "version"),
    ],
)
async def test_put_validation(
    user_client: httpx.AsyncClient, sid: str, body: dict[str, Any], field: str
) -> None:
    r = await user_client.put(f"/api/canvas/{sid}", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field)


async def test_snapshots(user_client: httpx.AsyncClient, sid: str) -> None:
    r = await user_client.post(f"/api/canvas/{sid}/versions")
    assert r.status_code == 404
    await _put(user_client, sid, title="T", content="v1")
    r = await user_client.post(f"/api/canvas/{sid}/versions")
    assert r.status_code == 201
    snap = r.json()
    assert set(snap) == {"id", "version", "title", "content", "createdAt"}
    assert (snap["version"], snap["title"], snap["content"]) == (1, "T", "v1")
    await _put(user_client, sid, title="T", content="v2", version=1)
    await user_client.post(f"/api/canvas/{sid}/versions")
    versions = (await user_client.get(f"/api/canvas/{sid}/versions")).json()["versions"]
    assert [(v["version"], v["content"]) for v in versions] == [(2, "v2"), (1, "v1")]


async def test_snapshot_cap_and_recent_ten(user_client: httpx.AsyncClient, sid: str) -> None:
    await _put(user_client, sid, content="c0")
    for i in range(1, 56):
        await _put(user_client, sid, content=f"c{i}")
        r = await user_client.post(f"/api/canvas/{sid}/versions")
        assert r.status_code == 201
    versions = (await user_client.get(f"/api/canvas/{sid}/versions")).json()["versions"]
    assert len(versions) == 50
    assert versions[0]["content"] == "c55" and versions[-1]["content"] == "c6"
    loaded = (await user_client.get(f"/api/canvas/{sid}")).json()
    assert [v["content"] for v in loaded["versions"]] == [f"c{i}" for i in range(55, 45, -1)]


async def test_delete_removes_document_and_versions(
    user_client: httpx.AsyncClient, sid: str
) -> None:
    await _put(user_client, sid, content="x")
    await user_client.post(f"/api/canvas/{sid}/versions")
    r = await user_client.delete(f"/api/canvas/{sid}")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await user_client.get(f"/api/canvas/{sid}")).json() == {
        "document": None,
        "versions": [],
    }
    assert (await user_client.delete(f"/api/canvas/{sid}")).status_code == 404
    r = await _put(user_client, sid, content="fresh")
    assert r.status_code == 201 and r.json()["document"]["version"] == 1
    assert (await user_client.get(f"/api/canvas/{sid}/versions")).json()["versions"] == []


async def test_documents_are_per_session(user_client: httpx.AsyncClient, sid: str) -> None:
    two = (await new_session(user_client))["id"]
    await _put(user_client, sid, content="one")
    await _put(user_client, two, content="two")
    assert (await user_client.get(f"/api/canvas/{sid}")).json()["document"]["content"] == "one"
    assert (await user_client.get(f"/api/canvas/{two}")).json()["document"]["content"] == "two"


async def test_another_users_canvas_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient, sid: str
) -> None:
    await _put(user_client, sid, content="private")
    await user_client.post(f"/api/canvas/{sid}/versions")
    base = f"/api/canvas/{sid}"
    assert (await other_user_client.get(base)).status_code == 404
    assert (await _put(other_user_client, sid, content="overwrite")).status_code == 404
    assert (await other_user_client.delete(base)).status_code == 404
    assert (await other_user_client.get(f"{base}/versions")).status_code == 404
    assert (await other_user_client.post(f"{base}/versions")).status_code == 404
    got = (await user_client.get(base)).json()
    assert got["document"]["content"] == "private" and len(got["versions"]) == 1


CALLS = [
    ("GET", ""),
    ("PUT", ""),
    ("DELETE", ""),
    ("GET", "/versions"),
    ("POST", "/versions"),
]
NO_SESSION = {"error": "Chat session not found"}


@pytest.mark.parametrize(("method", "suffix"), CALLS)
async def test_a_session_that_does_not_exist_is_404(
    user_client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    r = await user_client.request(method, f"/api/canvas/{SESSION}{suffix}", json={"content": "x"})
    assert (r.status_code, r.json()) == (404, NO_SESSION)


@pytest.mark.parametrize(("method", "suffix"), CALLS)
async def test_another_users_session_without_a_canvas_is_404(
    user_client: httpx.AsyncClient,
    other_user_client: httpx.AsyncClient,
    sid: str,
    method: str,
    suffix: str,
) -> None:
    r = await other_user_client.request(method, f"/api/canvas/{sid}{suffix}", json={"content": ""})
    assert (r.status_code, r.json()) == (404, NO_SESSION)
    # Nothing was created on the owner's session.
    assert (await user_client.get(f"/api/canvas/{sid}")).json()["document"] is None


async def test_deleting_the_chat_session_deletes_its_canvas_and_versions(
    user_client: httpx.AsyncClient, portal: Portal, sid: str
) -> None:
    await _put(user_client, sid, content="draft")
    await user_client.post(f"/api/canvas/{sid}/versions")
    await user_client.post(f"/api/canvas/{sid}/versions")
    kept = (await new_session(user_client))["id"]
    await _put(user_client, kept, content="kept")
    await user_client.post(f"/api/canvas/{kept}/versions")

    r = await user_client.delete(f"/api/chat/sessions/{sid}")
    assert r.status_code == 200, r.text
    assert (await user_client.get(f"/api/canvas/{sid}")).status_code == 404
    async with portal.sessionmaker() as db:
        docs = list(await db.scalars(select(CanvasDocument.session_id)))
        versions = list(await db.scalars(select(CanvasVersion.content)))
    assert (docs, versions) == ([kept], ["kept"])


async def test_session_id_too_long_is_400(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get(f"/api/canvas/{'s' * 65}")
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/canvas/{SESSION}"),
        ("PUT", f"/api/canvas/{SESSION}"),
        ("DELETE", f"/api/canvas/{SESSION}"),
        ("GET", f"/api/canvas/{SESSION}/versions"),
        ("POST", f"/api/canvas/{SESSION}/versions"),
    ],
)
async def test_canvas_needs_authentication(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={"content": ""})
    assert r.status_code == 401
    r = await client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_concurrent_saves_of_the_same_version_let_one_win(
    user_client: httpx.AsyncClient,
    sid: str,
) -> None:
    await _put(user_client, sid, content="base")
    results = await asyncio.gather(
        *(_put(user_client, sid, content=f"edit {i}", version=1) for i in range(4))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409]
    winner = next(r for r in results if r.status_code == 200).json()["document"]
    got = (await user_client.get(f"/api/canvas/{sid}")).json()["document"]
    assert got["version"] == 2 and got["content"] == winner["content"]

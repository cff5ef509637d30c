from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

SESSION = "clsession000000000000001"


async def _put(client: httpx.AsyncClient, session: str = SESSION, **body: Any) -> httpx.Response:
    return await client.put(f"/api/canvas/{session}", json={"content": "", **body})


async def test_empty_canvas(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get(f"/api/canvas/{SESSION}")
    assert r.status_code == 200
    assert r.json() == {"document": None, "versions": []}
    r = await user_client.get(f"/api/canvas/{SESSION}/versions")
    assert r.json() == {"versions": []}


async def test_upsert_and_load(user_client: httpx.AsyncClient) -> None:
    r = await _put(user_client, title="Draft", content="# Hello")
    assert r.status_code == 201, r.text
    doc = r.json()["document"]
    assert set(doc) == {"id", "sessionId", "title", "content", "version", "updatedAt"}
    assert (doc["sessionId"], doc["title"], doc["content"], doc["version"]) == (
        SESSION, "Draft", "# Hello", 1,
    )  # fmt: skip
    r = await _put(user_client, title="Draft 2", content="# Hello world", version=1)
    assert r.status_code == 200
    assert r.json()["document"]["version"] == 2 and r.json()["document"]["id"] == doc["id"]
    r = await _put(user_client, title="Draft 3", content="no version check")
    assert r.json()["document"]["version"] == 3
    got = (await user_client.get(f"/api/canvas/{SESSION}")).json()
    assert got["document"]["title"] == "Draft 3" and got["document"]["version"] == 3
    assert got["versions"] == []


async def test_stale_version_is_a_conflict(user_client: httpx.AsyncClient) -> None:
    await _put(user_client, title="A", content="one")
    await _put(user_client, title="A", content="two", version=1)
    r = await _put(user_client, title="A", content="three", version=1)
    assert r.status_code == 409
    body = r.json()
    assert body["currentVersion"] == 2 and "error" in body
    assert body["document"]["content"] == "two"
    got = (await user_client.get(f"/api/canvas/{SESSION}")).json()["document"]
    assert got["content"] == "two" and got["version"] == 2


async def test_version_for_a_missing_document_is_a_conflict(
    user_client: httpx.AsyncClient,
) -> None:
    r = await _put(user_client, content="x", version=4)
    assert r.status_code == 409 and r.json()["currentVersion"] == 0
    r = await _put(user_client, content="x", version=0)
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
    user_client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await user_client.put(f"/api/canvas/{SESSION}", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field)


async def test_snapshots(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post(f"/api/canvas/{SESSION}/versions")
    assert r.status_code == 404
    await _put(user_client, title="T", content="v1")
    r = await user_client.post(f"/api/canvas/{SESSION}/versions")
    assert r.status_code == 201
    snap = r.json()
    assert set(snap) == {"id", "version", "title", "content", "createdAt"}
    assert (snap["version"], snap["title"], snap["content"]) == (1, "T", "v1")
    await _put(user_client, title="T", content="v2", version=1)
    await user_client.post(f"/api/canvas/{SESSION}/versions")
    versions = (await user_client.get(f"/api/canvas/{SESSION}/versions")).json()["versions"]
    assert [(v["version"], v["content"]) for v in versions] == [(2, "v2"), (1, "v1")]


async def test_snapshot_cap_and_recent_ten(user_client: httpx.AsyncClient) -> None:
    await _put(user_client, content="c0")
    for i in range(1, 56):
        await _put(user_client, content=f"c{i}")
        r = await user_client.post(f"/api/canvas/{SESSION}/versions")
        assert r.status_code == 201
    versions = (await user_client.get(f"/api/canvas/{SESSION}/versions")).json()["versions"]
    assert len(versions) == 50
    assert versions[0]["content"] == "c55" and versions[-1]["content"] == "c6"
    loaded = (await user_client.get(f"/api/canvas/{SESSION}")).json()
    assert [v["content"] for v in loaded["versions"]] == [f"c{i}" for i in range(55, 45, -1)]


async def test_delete_removes_document_and_versions(user_client: httpx.AsyncClient) -> None:
    await _put(user_client, content="x")
    await user_client.post(f"/api/canvas/{SESSION}/versions")
    r = await user_client.delete(f"/api/canvas/{SESSION}")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await user_client.get(f"/api/canvas/{SESSION}")).json() == {
        "document": None,
        "versions": [],
    }
    assert (await user_client.delete(f"/api/canvas/{SESSION}")).status_code == 404
    r = await _put(user_client, content="fresh")
    assert r.status_code == 201 and r.json()["document"]["version"] == 1
    assert (await user_client.get(f"/api/canvas/{SESSION}/versions")).json()["versions"] == []


async def test_documents_are_per_session(user_client: httpx.AsyncClient) -> None:
    await _put(user_client, "s-one", content="one")
    await _put(user_client, "s-two", content="two")
    assert (await user_client.get("/api/canvas/s-one")).json()["document"]["content"] == "one"
    assert (await user_client.get("/api/canvas/s-two")).json()["document"]["content"] == "two"


async def test_another_users_canvas_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    await _put(user_client, content="private")
    await user_client.post(f"/api/canvas/{SESSION}/versions")
    base = f"/api/canvas/{SESSION}"
    assert (await other_user_client.get(base)).status_code == 404
    assert (await _put(other_user_client, content="overwrite")).status_code == 404
    assert (await other_user_client.delete(base)).status_code == 404
    assert (await other_user_client.get(f"{base}/versions")).status_code == 404
    assert (await other_user_client.post(f"{base}/versions")).status_code == 404
    got = (await user_client.get(base)).json()
    assert got["document"]["content"] == "private" and len(got["versions"]) == 1


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
) -> None:
    await _put(user_client, content="base")
    results = await asyncio.gather(
        *(_put(user_client, content=f"edit {i}", version=1) for i in range(4))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409]
    winner = next(r for r in results if r.status_code == 200).json()["document"]
    got = (await user_client.get(f"/api/canvas/{SESSION}")).json()["document"]
    assert got["version"] == 2 and got["content"] == winner["content"]

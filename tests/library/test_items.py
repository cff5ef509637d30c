from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.library.helpers import create_item

ITEM_FIELDS = {
    "id", "type", "title", "description", "content", "url", "fileName", "mimeType", "size",
    "tags", "source", "favorite", "archived", "createdAt", "updatedAt",
}  # fmt: skip


async def test_create_item_returns_every_field(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post(
        "/api/stuff",
        json={
            "type": "code",
            "title": "  Quicksort  ",
            "description": "in Python",
            "content": "def qs(xs): ...",
            "fileName": "qs.py",
            "mimeType": "text/x-python",
            "url": "https://example.com/qs",
            "tags": ["python", "Sorting", "python "],
            "source": "chat",
            "favorite": True,
        },
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert set(item) == ITEM_FIELDS
    assert item["type"] == "CODE"
    assert item["title"] == "Quicksort"
    assert item["tags"] == ["python", "Sorting"]
    assert item["size"] == len(b"def qs(xs): ...")
    assert item["favorite"] is True and item["archived"] is False
    assert item["source"] == "chat"
    r = await user_client.get(f"/api/stuff/{item['id']}")
    assert r.status_code == 200
    assert r.json()["title"] == "Quicksort"
    assert r.json()["collections"] == []


async def test_size_is_measured_not_taken_from_the_client(user_client: httpx.AsyncClient) -> None:
    item = await create_item(user_client, content="héllo", size=10**12)
    assert item["size"] == len("héllo".encode())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x"}, "type"),
        ({"type": "PODCAST", "title": "x"}, "type"),
        ({"type": "NOTE"}, "title"),
        ({"type": "NOTE", "title": "   "}, "title"),
        ({"type": "NOTE", "title": "x" * 501}, "title"),
        ({"type": "NOTE", "title": "x", "url": "javascript:alert(1)"}, "url"),
        ({"type": "NOTE", "title": "x", "tags": "one"}, "tags"),
        ({"type": "NOTE", "title": "x", "tags": [""]}, "tags"),
        ({"type": "NOTE", "title": "x", "tags": ["t" * 51]}, "tags"),
        ({"type": "NOTE", "title": "x", "tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"type": "NOTE", "title": "x", "source": "no spaces please"}, "source"),
        ({"type": "NOTE", "title": "x", "mimeType": "nonsense"}, "mimeType"),
        ({"type": "NOTE", "title": "x", "favorite": "sometimes"}, "favorite"),
    ],
)
async def test_create_item_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await user_client.post("/api/stuff", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field)


async def test_create_item_rejects_non_json(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post(
        "/api/stuff", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "error" in r.json()


async def test_patch_updates_only_the_metadata(user_client: httpx.AsyncClient) -> None:
    item = await create_item(user_client, description="old", tags=["a"])
    r = await user_client.patch(
        f"/api/stuff/{item['id']}",
        json={"title": "New", "description": None, "tags": ["b", "c"], "favorite": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["description"], body["tags"]) == ("New", None, ["b", "c"])
    assert body["favorite"] is True and body["archived"] is False
    r = await user_client.patch(f"/api/stuff/{item['id']}", json={"archived": True})
    assert r.json()["archived"] is True
    again = (await user_client.get(f"/api/stuff/{item['id']}")).json()
    assert again["title"] == "New" and again["archived"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Nothing to update"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"favorite": None}, "favorite"),
        ({"tags": "x"}, "tags"),
        ({"content": "changed"}, "content is not allowed"),
        ({"type": "VIDEO"}, "type is not allowed"),
    ],
)
async def test_patch_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    item = await create_item(user_client)
    r = await user_client.patch(f"/api/stuff/{item['id']}", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(message)


async def test_delete_item(user_client: httpx.AsyncClient) -> None:
    item = await create_item(user_client)
    r = await user_client.delete(f"/api/stuff/{item['id']}")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await user_client.get(f"/api/stuff/{item['id']}")).status_code == 404
    assert (await user_client.delete(f"/api/stuff/{item['id']}")).status_code == 404


async def test_unknown_item_is_404(user_client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        r = await user_client.request(method, "/api/stuff/nope", json={"title": "x"})
        assert r.status_code == 404, method
        assert r.json() == {"error": "Content item not found"}


async def test_another_users_item_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    item = await create_item(user_client, title="mine")
    url = f"/api/stuff/{item['id']}"
    assert (await other_user_client.get(url)).status_code == 404
    assert (await other_user_client.patch(url, json={"title": "stolen"})).status_code == 404
    assert (await other_user_client.delete(url)).status_code == 404
    assert (await other_user_client.get("/api/stuff")).json()["total"] == 0
    assert (await user_client.get(url)).json()["title"] == "mine"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/stuff"),
        ("POST", "/api/stuff"),
        ("GET", "/api/stuff/stats"),
        ("POST", "/api/stuff/upload"),
        ("GET", "/api/stuff/x"),
        ("PATCH", "/api/stuff/x"),
        ("DELETE", "/api/stuff/x"),
        ("GET", "/api/stuff/download/u/f.png"),
        ("GET", "/api/collections"),
        ("POST", "/api/collections"),
        ("GET", "/api/collections/x"),
        ("PATCH", "/api/collections/x"),
        ("DELETE", "/api/collections/x"),
        ("POST", "/api/collections/x/items"),
        ("DELETE", "/api/collections/x/items?itemId=y"),
    ],
)
async def test_library_needs_authentication(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={})
    assert r.status_code == 401
    assert "error" in r.json()
    r = await client.request(method, path, headers={"Authorization": "Bearer sk-live-bogus"})
    assert r.status_code == 401


# --- listing ---------------------------------------------------------------------------


async def _titles(client: httpx.AsyncClient, query: str = "") -> list[str]:
    r = await client.get(f"/api/stuff{query}")
    assert r.status_code == 200, r.text
    return [i["title"] for i in r.json()["items"]]


async def test_list_shape_and_pagination(user_client: httpx.AsyncClient) -> None:
    for i in range(7):
        await create_item(user_client, title=f"item {i}")
    r = await user_client.get("/api/stuff?page=2&limit=3&sortBy=oldest")
    body = r.json()
    assert set(body) == {"items", "total", "page", "limit"}
    assert (body["total"], body["page"], body["limit"]) == (7, 2, 3)
    assert [i["title"] for i in body["items"]] == ["item 3", "item 4", "item 5"]
    last = (await user_client.get("/api/stuff?page=3&limit=3&sortBy=oldest")).json()
    assert [i["title"] for i in last["items"]] == ["item 6"] and last["total"] == 7
    beyond = (await user_client.get("/api/stuff?page=9&limit=3")).json()
    assert beyond["items"] == [] and beyond["total"] == 7
    default = (await user_client.get("/api/stuff")).json()
    assert (default["page"], default["limit"]) == (1, 20)


async def test_sorts(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, title="banana", content="x" * 10)
    await create_item(user_client, title="Apple", content="x" * 30)
    await create_item(user_client, title="cherry", content="x" * 20)
    assert await _titles(user_client) == ["cherry", "Apple", "banana"]
    assert await _titles(user_client, "?sortBy=newest") == ["cherry", "Apple", "banana"]
    assert await _titles(user_client, "?sortBy=oldest") == ["banana", "Apple", "cherry"]
    assert await _titles(user_client, "?sortBy=name_asc") == ["Apple", "banana", "cherry"]
    assert await _titles(user_client, "?sortBy=name_desc") == ["cherry", "banana", "Apple"]
    assert await _titles(user_client, "?sortBy=size") == ["Apple", "cherry", "banana"]


async def test_filters(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, type="IMAGE", title="img", source="chat", favorite=True)
    await create_item(user_client, type="CODE", title="code", source="canvas")
    await create_item(user_client, type="NOTE", title="old note", archived=True)
    await create_item(user_client, type="NOTE", title="note")
    assert await _titles(user_client, "?type=IMAGE") == ["img"]
    assert await _titles(user_client, "?type=note") == ["note"]
    assert await _titles(user_client, "?source=canvas") == ["code"]
    assert await _titles(user_client, "?favorite=true") == ["img"]
    assert sorted(await _titles(user_client, "?favorite=false")) == ["code", "note"]
    assert await _titles(user_client, "?archived=true") == ["old note"]
    assert sorted(await _titles(user_client)) == ["code", "img", "note"]
    assert await _titles(user_client, "?type=NOTE&archived=true") == ["old note"]


async def test_collection_filter(user_client: httpx.AsyncClient) -> None:
    a = await create_item(user_client, title="in")
    await create_item(user_client, title="out")
    col = (await user_client.post("/api/collections", json={"name": "Work"})).json()
    r = await user_client.post(f"/api/collections/{col['id']}/items", json={"itemId": a["id"]})
    assert r.status_code == 201
    assert await _titles(user_client, f"?collectionId={col['id']}") == ["in"]
    r = await user_client.get("/api/stuff?collectionId=missing")
    assert r.status_code == 404


async def test_collection_filter_with_another_users_collection_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    col = (await other_user_client.post("/api/collections", json={"name": "Theirs"})).json()
    r = await user_client.get(f"/api/stuff?collectionId={col['id']}")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("type=PODCAST", "type"),
        ("sortBy=popular", "sortBy"),
        ("favorite=maybe", "favorite"),
        ("archived=2", "archived"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("source=has%20space", "source"),
        ("search=" + "x" * 201, "search"),
    ],
)
async def test_list_rejects_unknown_values(
    user_client: httpx.AsyncClient, query: str, param: str
) -> None:
    r = await user_client.get(f"/api/stuff?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(param)

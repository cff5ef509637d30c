from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.library.helpers import create_item

COLLECTION_FIELDS = {
    "id", "name", "description", "color", "icon", "isDefault", "itemCount", "createdAt",
    "updatedAt",
}  # fmt: skip


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/collections", json={"name": "Work", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_first_list_creates_one_default_collection(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get("/api/collections")
    assert r.status_code == 200
    (default,) = r.json()["collections"]
    assert set(default) == COLLECTION_FIELDS
    assert default["isDefault"] is True and default["itemCount"] == 0
    again = (await user_client.get("/api/collections")).json()["collections"]
    assert [c["id"] for c in again] == [default["id"]]


async def test_default_collection_cannot_be_deleted(user_client: httpx.AsyncClient) -> None:
    (default,) = (await user_client.get("/api/collections")).json()["collections"]
    r = await user_client.delete(f"/api/collections/{default['id']}")
    assert r.status_code == 400
    assert r.json() == {"error": "The default collection cannot be deleted"}
    assert len((await user_client.get("/api/collections")).json()["collections"]) == 1


async def test_create_get_update_delete(user_client: httpx.AsyncClient) -> None:
    col = await _create(user_client, description="job stuff", color="#3b82f6", icon="briefcase")
    assert set(col) == COLLECTION_FIELDS
    assert (col["name"], col["color"], col["icon"], col["isDefault"], col["itemCount"]) == (
        "Work", "#3B82F6", "briefcase", False, 0,
    )  # fmt: skip
    r = await user_client.patch(
        f"/api/collections/{col['id']}", json={"name": "Job", "color": "#000000", "icon": None}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["color"], r.json()["icon"]) == ("Job", "#000000", None)
    assert r.json()["description"] == "job stuff"
    got = (await user_client.get(f"/api/collections/{col['id']}")).json()
    assert got["name"] == "Job" and got["items"] == []
    names = [c["name"] for c in (await user_client.get("/api/collections")).json()["collections"]]
    assert "Job" in names
    r = await user_client.delete(f"/api/collections/{col['id']}")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert (await user_client.get(f"/api/collections/{col['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "color": "blue"}, "color"),
        ({"name": "ok", "color": "#12345"}, "color"),
        ({"name": "ok", "color": "#GGGGGG"}, "color"),
        ({"name": "ok", "icon": "i" * 51}, "icon"),
        ({"name": "ok", "description": "d" * 1001}, "description"),
    ],
)
async def test_create_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await user_client.post("/api/collections", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(field)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Nothing to update"),
        ({"name": None}, "name"),
        ({"color": "red"}, "color"),
        ({"isDefault": True}, "isDefault is not allowed"),
    ],
)
async def test_update_validation(
    user_client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    col = await _create(user_client)
    r = await user_client.patch(f"/api/collections/{col['id']}", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(message)


async def test_duplicate_names_conflict(user_client: httpx.AsyncClient) -> None:
    await _create(user_client, name="Work")
    other = await _create(user_client, name="Home")
    r = await user_client.post("/api/collections", json={"name": "Work"})
    assert r.status_code == 409
    r = await user_client.patch(f"/api/collections/{other['id']}", json={"name": "Work"})
    assert r.status_code == 409


async def test_items_in_collections(user_client: httpx.AsyncClient) -> None:
    col = await _create(user_client)
    a = await create_item(user_client, title="first")
    b = await create_item(user_client, title="second")
    url = f"/api/collections/{col['id']}/items"
    r = await user_client.post(url, json={"itemId": a["id"]})
    assert r.status_code == 201 and r.json()["itemCount"] == 1
    r = await user_client.post(url, json={"itemId": b["id"]})
    assert r.json()["itemCount"] == 2
    r = await user_client.post(url, json={"itemId": a["id"]})
    assert r.status_code == 409
    assert r.json() == {"error": "Item is already in this collection"}
    got = (await user_client.get(f"/api/collections/{col['id']}")).json()
    assert [i["title"] for i in got["items"]] == ["second", "first"] and got["itemCount"] == 2
    listed = (await user_client.get("/api/collections")).json()["collections"]
    assert {c["name"]: c["itemCount"] for c in listed}["Work"] == 2
    item = (await user_client.get(f"/api/stuff/{a['id']}")).json()
    assert [c["name"] for c in item["collections"]] == ["Work"]

    r = await user_client.delete(f"{url}?itemId={a['id']}")
    assert r.status_code == 200 and r.json() == {"success": True}
    r = await user_client.delete(f"{url}?itemId={a['id']}")
    assert r.status_code == 404
    assert (await user_client.get(f"/api/stuff/{a['id']}")).json()["collections"] == []

    # Deleting an item or the collection drops the membership, never the other side.
    await user_client.delete(f"/api/stuff/{b['id']}")
    assert (await user_client.get(f"/api/collections/{col['id']}")).json()["itemCount"] == 0
    await user_client.post(url, json={"itemId": a["id"]})
    await user_client.delete(f"/api/collections/{col['id']}")
    assert (await user_client.get(f"/api/stuff/{a['id']}")).status_code == 200


async def test_item_membership_validation(user_client: httpx.AsyncClient) -> None:
    col = await _create(user_client)
    url = f"/api/collections/{col['id']}/items"
    r = await user_client.post(url, json={})
    assert r.status_code == 400 and r.json()["error"].startswith("itemId")
    r = await user_client.post(url, json={"itemId": "nope"})
    assert r.status_code == 404 and r.json() == {"error": "Content item not found"}
    r = await user_client.delete(url)
    assert r.status_code == 400 and r.json()["error"].startswith("itemId")


async def test_unknown_collection_is_404(user_client: httpx.AsyncClient) -> None:
    item = await create_item(user_client)
    for method, path, body in [
        ("GET", "/api/collections/nope", None),
        ("PATCH", "/api/collections/nope", {"name": "x"}),
        ("DELETE", "/api/collections/nope", None),
        ("POST", "/api/collections/nope/items", {"itemId": item["id"]}),
        ("DELETE", f"/api/collections/nope/items?itemId={item['id']}", None),
    ]:
        r = await user_client.request(method, path, json=body)
        assert r.status_code == 404, (method, path)
        assert r.json() == {"error": "Collection not found"}


async def test_another_users_collection_and_items_are_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    mine = await _create(user_client, name="Mine")
    my_item = await create_item(user_client)
    theirs = await _create(other_user_client, name="Theirs")
    their_item = await create_item(other_user_client)
    base = f"/api/collections/{mine['id']}"
    assert (await other_user_client.get(base)).status_code == 404
    assert (await other_user_client.patch(base, json={"name": "x"})).status_code == 404
    assert (await other_user_client.delete(base)).status_code == 404
    r = await other_user_client.post(f"{base}/items", json={"itemId": their_item["id"]})
    assert r.status_code == 404
    # My collection, their item; their collection, my item.
    r = await user_client.post(f"{base}/items", json={"itemId": their_item["id"]})
    assert r.status_code == 404
    r = await user_client.post(
        f"/api/collections/{theirs['id']}/items", json={"itemId": my_item["id"]}
    )
    assert r.status_code == 404
    await user_client.post(f"{base}/items", json={"itemId": my_item["id"]})
    r = await other_user_client.delete(f"{base}/items?itemId={my_item['id']}")
    assert r.status_code == 404
    assert (await user_client.get(base)).json()["itemCount"] == 1
    names = [
        c["name"] for c in (await other_user_client.get("/api/collections")).json()["collections"]
    ]
    assert "Mine" not in names


async def test_default_collection_when_its_name_is_taken(user_client: httpx.AsyncClient) -> None:
    await _create(user_client, name="Unsorted")
    cols = (await user_client.get("/api/collections")).json()["collections"]
    assert [(c["name"], c["isDefault"]) for c in cols] == [
        ("Default collection", True),
        ("Unsorted", False),
    ]

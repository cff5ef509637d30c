"""API keys on the library: /api/stuff*, /api/collections* and /api/canvas* need the key's
`library` permission (403 without it); a browser session needs none."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmportal.portal import Portal
from tests.chat.helpers import new_session
from tests.conftest import KeyFactory
from tests.fixtures.api_keys import set_permissions
from tests.library.helpers import PNG, upload

LACKS_LIBRARY = {"error": "This API key lacks the 'library' permission"}

LIBRARY_PATHS = [
    ("GET", "/api/stuff"),
    ("POST", "/api/stuff"),
    ("GET", "/api/stuff/stats"),
    ("POST", "/api/stuff/upload"),
    ("GET", "/api/stuff/download/u/f.png"),
    ("GET", "/api/stuff/cabc"),
    ("PATCH", "/api/stuff/cabc"),
    ("DELETE", "/api/stuff/cabc"),
    ("GET", "/api/collections"),
    ("POST", "/api/collections"),
    ("GET", "/api/collections/x"),
    ("PATCH", "/api/collections/x"),
    ("DELETE", "/api/collections/x"),
    ("POST", "/api/collections/x/items"),
    ("DELETE", "/api/collections/x/items"),
    ("GET", "/api/canvas/s1"),
    ("PUT", "/api/canvas/s1"),
    ("DELETE", "/api/canvas/s1"),
    ("GET", "/api/canvas/s1/versions"),
    ("POST", "/api/canvas/s1/versions"),
]


@pytest.mark.parametrize(("method", "path"), LIBRARY_PATHS)
async def test_key_without_library_permission_is_403(
    client: httpx.AsyncClient, user: Any, key_for: KeyFactory, method: str, path: str
) -> None:
    key = await key_for(user, ["chat", "files", "images", "vision"])
    r = await client.request(method, path, headers=key.headers, json={})
    assert (r.status_code, r.json()) == (403, LACKS_LIBRARY)


async def test_key_with_library_permission_uses_the_library(
    user_client: httpx.AsyncClient, portal: Portal, user: Any, key_for: KeyFactory
) -> None:
    key = await key_for(user, ["chat"])
    assert (await user_client.get("/api/stuff", headers=key.headers)).status_code == 403
    await set_permissions(portal, key, ["library"])
    h = key.headers

    r = await user_client.post("/api/stuff", json={"type": "NOTE", "title": "By key"}, headers=h)
    assert r.status_code == 201, r.text
    item = r.json()
    r = await user_client.post(
        "/api/stuff/upload", files={"file": ("k.png", PNG, "image/png")}, headers=h
    )
    assert r.status_code == 201, r.text
    listed = (await user_client.get("/api/stuff", headers=h)).json()
    assert sorted(i["title"] for i in listed["items"]) == ["By key", "k.png"]
    assert (await user_client.get("/api/stuff/stats", headers=h)).json()["total"] == 2

    r = await user_client.post("/api/collections", json={"name": "Keyed"}, headers=h)
    assert r.status_code == 201, r.text
    coll = r.json()["id"]
    r = await user_client.post(
        f"/api/collections/{coll}/items", json={"itemId": item["id"]}, headers=h
    )
    assert r.status_code == 201, r.text

    # The canvas of a chat session the user made in the browser.
    sid = (await new_session(user_client, title="S"))["id"]
    r = await user_client.put(f"/api/canvas/{sid}", json={"content": "by key"}, headers=h)
    assert r.status_code == 201, r.text
    got = await user_client.get(f"/api/canvas/{sid}", headers=h)
    assert got.json()["document"]["content"] == "by key"


async def test_browser_session_needs_no_permission(user_client: httpx.AsyncClient) -> None:
    assert (await user_client.get("/api/stuff")).status_code == 200
    assert (await upload(user_client, "s.png", PNG, "image/png")).status_code == 201

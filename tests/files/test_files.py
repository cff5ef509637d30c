from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmportal.config import Settings
from llmportal.portal import Portal
from tests.chat.helpers import PNG, multipart_body, stored_files
from tests.conftest import KeyFactory
from tests.fixtures.api_keys import set_permissions


async def upload_file(
    client: httpx.AsyncClient, name: str, data: bytes, **kw: Any
) -> httpx.Response:
    return await client.post("/api/files/upload", files={"file": (name, data, "text/plain")}, **kw)


async def test_upload_answers_201_with_metadata(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    r = await upload_file(user_client, "diagram.png", PNG)
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "diagram.png"
    assert body["type"] == "image/png"  # sniffed: the part said text/plain
    assert body["size"] == len(PNG)
    assert body["url"] == f"/api/files/{body['id']}/content"
    assert body["createdAt"].endswith("Z")
    assert len(stored_files(settings, user.id)) == 1

    r = await user_client.get(f"/api/files/{body['id']}")
    assert (r.status_code, r.json()) == (200, body)
    content = await user_client.get(body["url"])
    assert content.content == PNG
    assert content.headers["content-disposition"] == 'attachment; filename="diagram.png"'
    assert content.headers["x-content-type-options"] == "nosniff"


async def test_list_is_paginated_newest_first(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    ids = [(await upload_file(user_client, f"f{i}.txt", b"x")).json()["id"] for i in range(3)]
    await upload_file(other_user_client, "theirs.txt", b"y")
    r = await user_client.get("/api/files", params={"limit": 2})
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["page"], body["limit"]) == (3, 1, 2)
    assert [f["id"] for f in body["files"]] == [ids[2], ids[1]]
    page2 = (await user_client.get("/api/files", params={"limit": 2, "page": 2})).json()
    assert [f["id"] for f in page2["files"]] == [ids[0]]
    default = (await user_client.get("/api/files")).json()
    assert (default["page"], default["limit"], len(default["files"])) == (1, 20, 3)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": 0}, "page"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit")],
)
async def test_list_rejects_bad_paging(
    user_client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    r = await user_client.get("/api/files", params=params)
    assert r.status_code == 400
    assert r.json()["error"].startswith(f"{field}:")


async def test_delete_removes_row_and_stored_file(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    keep = (await upload_file(user_client, "keep.txt", b"keep")).json()
    gone = (await upload_file(user_client, "gone.txt", b"gone")).json()
    r = await user_client.delete(f"/api/files/{gone['id']}")
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert (await user_client.get(f"/api/files/{gone['id']}")).status_code == 404
    assert (await user_client.delete(f"/api/files/{gone['id']}")).status_code == 404
    assert len(stored_files(settings, user.id)) == 1
    assert (await user_client.get(keep["url"])).content == b"keep"
    assert (await user_client.get("/api/files")).json()["total"] == 1


async def test_other_users_file_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    mine = (await upload_file(user_client, "mine.txt", b"private")).json()
    for r in (
        await other_user_client.get(f"/api/files/{mine['id']}"),
        await other_user_client.get(mine["url"]),
        await other_user_client.delete(f"/api/files/{mine['id']}"),
    ):
        assert (r.status_code, r.json()) == (404, {"error": "File not found"})
    assert (await other_user_client.get("/api/files")).json()["files"] == []
    assert (await user_client.get(mine["url"])).content == b"private"


async def test_upload_errors(
    user_client: httpx.AsyncClient,
    user: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "/api/files/upload"
    r = await user_client.post(url, files=[("files", ("a.txt", b"a", "text/plain"))])
    assert (r.status_code, r.json()) == (400, {"error": "Unexpected file field 'files'"})
    body, headers = multipart_body([("title", None, b"no file")])
    r = await user_client.post(url, content=body, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "file is required"})
    r = await user_client.post(
        url,
        files=[("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))],
    )
    assert (r.status_code, r.json()) == (400, {"error": "Only one file per upload"})
    r = await user_client.post(url, content=b"raw bytes", headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()) == (400, {"error": "Expected a multipart/form-data body"})

    monkeypatch.setattr(settings, "max_upload_bytes", 100)
    r = await upload_file(user_client, "big.txt", b"b" * 101)
    assert (r.status_code, r.json()) == (413, {"error": "File too large (limit 100 bytes)"})
    assert stored_files(settings, user.id) == []
    assert (await user_client.get("/api/files")).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/files"),
        ("POST", "/api/files/upload"),
        ("GET", "/api/files/cabc"),
        ("GET", "/api/files/cabc/content"),
        ("DELETE", "/api/files/cabc"),
    ],
)
async def test_files_need_authentication(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path)
    assert (r.status_code, r.json()) == (401, {"error": "Authentication required"})


async def test_key_needs_files_permission(
    client: httpx.AsyncClient, portal: Portal, user: Any, key_for: KeyFactory
) -> None:
    key = await key_for(user, ["chat"])
    chat_only = key.headers
    for method, path in (
        ("GET", "/api/files"),
        ("POST", "/api/files/upload"),
        ("GET", "/api/files/cabc"),
        ("GET", "/api/files/cabc/content"),
        ("DELETE", "/api/files/cabc"),
    ):
        r = await client.request(method, path, headers=chat_only)
        assert (r.status_code, r.json()) == (
            403,
            {"error": "This API key lacks the 'files' permission"},
        )
    await set_permissions(portal, key, ["files"])
    with_files = key.headers
    r = await upload_file(client, "k.txt", b"via key", headers=with_files)
    assert r.status_code == 201
    assert (await client.get("/api/files", headers=with_files)).json()["total"] == 1


async def test_download_ranges_are_served_and_refused_as_json(
    user_client: httpx.AsyncClient,
) -> None:
    url = (await upload_file(user_client, "abc.txt", b"abcdef")).json()["url"]
    part = await user_client.get(url, headers={"Range": "bytes=1-2"})
    assert (part.status_code, part.content) == (206, b"bc")
    outside = await user_client.get(url, headers={"Range": "bytes=10-20"})
    assert outside.status_code == 416
    assert outside.json() == {"error": "Requested range not satisfiable"}
    assert outside.headers["content-range"] == "bytes */6"
    malformed = await user_client.get(url, headers={"Range": "lines=1-2"})
    assert (malformed.status_code, malformed.json()) == (400, {"error": "Only support bytes range"})
    # An If-Range for another version of the file: the whole file, as HTTP says.
    whole = await user_client.get(url, headers={"Range": "bytes=10-20", "If-Range": '"old"'})
    assert (whole.status_code, whole.content) == (200, b"abcdef")

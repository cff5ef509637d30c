"""Uploads into the library, downloads with caching and ranges, storage limits, stats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmportal.config import PlanConfig
from llmportal.library.files import MAX_UPLOAD_BYTES
from llmportal.portal import Portal
from tests.chat.helpers import multipart_body
from tests.library.helpers import MP4, PNG, create_item, upload, uploaded


def _stored_path(portal: Portal, item: dict[str, Any]) -> Path:
    user_id, name = item["url"].split("/")[-2:]
    return Path(portal.settings.storage_dir) / user_id / name


@pytest.mark.parametrize(
    ("name", "data", "item_type", "mime"),
    [
        ("photo.png", PNG, "IMAGE", "image/png"),
        ("clip.mp4", MP4, "VIDEO", "video/mp4"),
        ("main.py", b"print('hi')\n", "CODE", "text/x-python"),
        ("report.pdf", b"%PDF-1.4\n...", "FILE", "application/pdf"),
        ("readme.txt", b"plain words", "FILE", "text/plain"),
        ("disguised.png", b"<html><script>alert(1)</script></html>", "FILE", "text/plain"),
    ],
)
async def test_upload_sniffs_the_type(
    user_client: httpx.AsyncClient,
    portal: Portal,
    name: str,
    data: bytes,
    item_type: str,
    mime: str,
) -> None:
    r = await upload(user_client, name, data, "image/png")
    assert r.status_code == 201, r.text
    item = r.json()
    assert (item["type"], item["mimeType"], item["size"]) == (item_type, mime, len(data))
    assert item["fileName"] == name and item["title"] == name and item["source"] == "upload"
    assert item["url"].startswith("/api/stuff/download/")
    assert _stored_path(portal, item).read_bytes() == data
    listed = (await user_client.get("/api/stuff")).json()["items"]
    assert [i["id"] for i in listed] == [item["id"]]


async def test_upload_takes_title_description_and_tags(user_client: httpx.AsyncClient) -> None:
    item = await uploaded(
        user_client, "a.png", PNG, title="Logo", description="blue", tags="brand, logo"
    )
    assert (item["title"], item["description"], item["tags"]) == ("Logo", "blue", ["brand", "logo"])


async def test_upload_validation(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/stuff/upload", files={"title": (None, "no file")})
    assert (r.status_code, r.json()) == (400, {"error": "file is required"})
    r = await user_client.post("/api/stuff/upload", data={"title": "not multipart"})
    assert (r.status_code, r.json()) == (400, {"error": "Expected a multipart/form-data body"})
    r = await user_client.post("/api/stuff/upload", json={"file": "x"})
    assert r.status_code == 400
    r = await upload(user_client, "a.png", PNG, tags="x" * 60)
    assert r.status_code == 400 and r.json()["error"].startswith("tags")
    r = await user_client.post(
        "/api/stuff/upload", files=[("file", ("a.png", PNG)), ("file", ("b.png", PNG))]
    )
    assert r.status_code == 400
    assert (await user_client.get("/api/stuff/stats")).json()["storageUsed"] == 0


async def test_upload_over_50mb_is_413_and_leaves_nothing(
    user_client: httpx.AsyncClient, portal: Portal, user: Any
) -> None:
    big = b"\0" * (50 * 1024 * 1024 + 1)
    r = await upload(user_client, "big.bin", big)
    assert r.status_code == 413
    assert "too large" in r.json()["error"]
    folder = Path(portal.settings.storage_dir) / user.id
    assert not folder.exists() or list(folder.iterdir()) == []
    assert (await user_client.get("/api/stuff")).json()["total"] == 0


class Streamed:
    """A body sent in 1 MiB chunks without a Content-Length (so only the reader can stop it),
    optionally cut off after `cut` bytes; counts the chunks the portal asked for."""

    def __init__(self, body: bytes, cut: int | None = None) -> None:
        self.body, self.end, self.sent = body, len(body) if cut is None else cut, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, self.end, 1 << 20):
            self.sent += 1
            yield self.body[start : min(start + (1 << 20), self.end)]


async def test_over_limit_streamed_upload_is_413_and_leaves_no_file(
    user_client: httpx.AsyncClient, portal: Portal, user: Any
) -> None:
    body, headers = multipart_body(
        [("title", None, b"big"), ("file", "big.bin", b"\1" * (MAX_UPLOAD_BYTES + (20 << 20)))]
    )
    streamed = Streamed(body)
    r = await user_client.post("/api/stuff/upload", content=streamed, headers=headers)
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["error"]
    # Refused as the limit was crossed: the last 20 MiB were never read.
    assert streamed.sent <= (MAX_UPLOAD_BYTES >> 20) + 2
    folder = Path(portal.settings.storage_dir) / user.id
    assert not folder.exists() or list(folder.iterdir()) == []
    stats = (await user_client.get("/api/stuff/stats")).json()
    assert (stats["total"], stats["storageUsed"]) == (0, 0)


async def test_upload_cut_off_midway_leaves_no_file(
    user_client: httpx.AsyncClient, portal: Portal, user: Any
) -> None:
    body, headers = multipart_body([("file", "half.bin", b"\2" * (3 << 20))])
    r = await user_client.post(
        "/api/stuff/upload", content=Streamed(body, cut=2 << 20), headers=headers
    )
    assert (r.status_code, r.json()) == (400, {"error": "Multipart body ended early"})
    folder = Path(portal.settings.storage_dir) / user.id
    assert not folder.exists() or list(folder.iterdir()) == []
    assert (await user_client.get("/api/stuff")).json()["total"] == 0


@pytest.fixture
def tiny_plan(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> int:
    limit = 1000
    catalog = portal.settings.catalog.model_copy(
        update={
            "plans": [
                *portal.settings.catalog.plans,
                PlanConfig(tier="TINY", name="Tiny", storage_bytes=limit),
            ]
        }
    )
    monkeypatch.setattr(portal.settings, "catalog", catalog)
    return limit


async def test_storage_limit_refuses_uploads_and_stores_nothing(
    client: httpx.AsyncClient, make_user: Any, portal: Portal, tiny_plan: int
) -> None:
    from tests.fixtures.factories import login

    tiny = await make_user(plan="TINY")
    await login(client, tiny.email)
    await uploaded(client, "a.bin", b"\1" * 600)
    r = await upload(client, "b.bin", b"\2" * 600)
    assert r.status_code == 413
    assert "Storage limit" in r.json()["error"]
    r = await client.post("/api/stuff", json={"type": "NOTE", "title": "t", "content": "x" * 500})
    assert r.status_code == 413
    stats = (await client.get("/api/stuff/stats")).json()
    assert (stats["total"], stats["storageUsed"], stats["storageLimit"]) == (1, 600, tiny_plan)
    files = list((Path(portal.settings.storage_dir) / tiny.id).iterdir())
    assert len(files) == 1
    await uploaded(client, "c.bin", b"\3" * 400)
    r = await upload(client, "d.bin", b"\4")
    assert r.status_code == 413


async def test_stats(user_client: httpx.AsyncClient) -> None:
    empty = (await user_client.get("/api/stuff/stats")).json()
    assert empty == {
        "total": 0, "images": 0, "videos": 0, "files": 0, "code": 0, "conversations": 0,
        "notes": 0, "storageUsed": 0, "storageLimit": 5 * 1024**3,
    }  # fmt: skip
    await uploaded(user_client, "a.png", PNG)
    await uploaded(user_client, "b.mp4", MP4)
    await create_item(user_client, type="CONVERSATION", title="chat", content="hello")
    await create_item(user_client, type="NOTE", title="n", archived=True)
    stats = (await user_client.get("/api/stuff/stats")).json()
    assert stats["total"] == 4
    assert (stats["images"], stats["videos"], stats["conversations"], stats["notes"]) == (
        1,
        1,
        1,
        1,
    )
    assert stats["storageUsed"] == len(PNG) + len(MP4) + 5


async def test_stats_are_per_user(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    await uploaded(user_client, "a.png", PNG)
    stats = (await other_user_client.get("/api/stuff/stats")).json()
    assert stats["total"] == 0 and stats["storageUsed"] == 0


async def test_delete_removes_the_stored_file(
    user_client: httpx.AsyncClient, portal: Portal
) -> None:
    item = await uploaded(user_client, "a.png", PNG)
    path = _stored_path(portal, item)
    assert path.exists()
    assert (await user_client.delete(f"/api/stuff/{item['id']}")).status_code == 200
    assert not path.exists()
    assert (await user_client.get(item["url"])).status_code == 404
    assert (await user_client.get("/api/stuff/stats")).json()["storageUsed"] == 0


# --- downloads -------------------------------------------------------------------------


async def test_download_with_caching_headers(user_client: httpx.AsyncClient) -> None:
    item = await uploaded(user_client, "photo.png", PNG)
    r = await user_client.get(item["url"])
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"].startswith("private")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith("inline")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    r = await user_client.get(item["url"], headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = await user_client.get(item["url"], headers={"If-None-Match": f'"other", {etag}'})
    assert r.status_code == 304
    r = await user_client.get(item["url"], headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == PNG
    r = await user_client.get(item["url"], headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    r = await user_client.get(
        item["url"], headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert r.status_code == 200
    r = await user_client.get(item["url"], headers={"If-Modified-Since": "garbage"})
    assert r.status_code == 200
    r = await user_client.head(item["url"])
    assert r.status_code == 200 and r.headers["content-length"] == str(len(PNG))


async def test_html_like_files_download_as_attachments(user_client: httpx.AsyncClient) -> None:
    for name, data in [
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("pic.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'),
        ("x.xml", b"<?xml version='1.0'?><a/>"),
    ]:
        item = await uploaded(user_client, name, data)
        r = await user_client.get(item["url"])
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith("attachment"), name
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]


async def test_range_requests(user_client: httpx.AsyncClient) -> None:
    item = await uploaded(user_client, "clip.mp4", MP4)
    size = len(MP4)
    cases = [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-50", size - 50, size - 1),
        (f"bytes=10-{size + 500}", 10, size - 1),
        (f"bytes=-{size * 2}", 0, size - 1),
    ]
    for header, start, end in cases:
        r = await user_client.get(item["url"], headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == MP4[start : end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)
    for header in [f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=5-1", "bytes=-0",
                   "bytes=abc", "bytes=-", "bytes=1-x"]:  # fmt: skip
        r = await user_client.get(item["url"], headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert "error" in r.json()
    r = await user_client.get(item["url"], headers={"Range": "items=0-5"})
    assert r.status_code == 200 and r.content == MP4
    etag = (await user_client.get(item["url"])).headers["etag"]
    r = await user_client.get(item["url"], headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206
    r = await user_client.get(item["url"], headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == MP4


async def test_only_the_owner_can_download(
    user_client: httpx.AsyncClient,
    other_user_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    item = await uploaded(user_client, "photo.png", PNG)
    r = await other_user_client.get(item["url"])
    assert r.status_code == 404 and r.json() == {"error": "File not found"}
    other_id = (await other_user_client.get("/api/user/profile")).json()["id"]
    name = item["url"].rsplit("/", 1)[1]
    r = await other_user_client.get(f"/api/stuff/download/{other_id}/{name}")
    assert r.status_code == 404


async def test_download_needs_authentication(app: Any, user_client: httpx.AsyncClient) -> None:
    item = await uploaded(user_client, "photo.png", PNG)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as anon:
        r = await anon.get(item["url"])
    assert r.status_code == 401


@pytest.mark.parametrize(
    "trick",
    [
        "..",
        "..%2F..%2Fsecret.key",
        "..%2fsecret.key",
        "%2e%2e%2fsecret.key",
        "%2E%2E",
        "name.png%00.txt",
        "%00",
        ".hidden",
        "a%5C..%5C..%5Csecret.key",
        "..%252F..%252Fsecret.key",
        "nope.png",
    ],
)
async def test_path_tricks_never_leave_the_folder(
    user_client: httpx.AsyncClient, user: Any, portal: Portal, trick: str
) -> None:
    await uploaded(user_client, "photo.png", PNG)
    secret = Path(portal.settings.storage_dir).parent / "secret.key"
    secret.write_text("top secret")
    try:
        r = await user_client.get(f"/api/stuff/download/{user.id}/{trick}")
        assert r.status_code == 404, r.text
        assert b"top secret" not in r.content
        r = await user_client.get(f"/api/stuff/download/..%2F{user.id}/{trick}")
        assert r.status_code == 404
        assert b"top secret" not in r.content
    finally:
        secret.unlink()

"""The portal on STORAGE_URL=s3://bucket/prefix (a real S3 API: moto's server): uploads of
files, library items and chat attachments land in the bucket, download with ranges and caching
headers, and leave nothing behind when refused, failed, or deleted."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.app import create_app
from llmportal.db import _ON_ROLLBACK as ON_ROLLBACK
from llmportal.storage.s3 import PART_SIZE
from tests.chat.helpers import PNG
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories
from tests.fixtures.s3 import S3Server
from tests.fixtures.upstreams import free_port

MAX_FILE = PART_SIZE + (2 << 20)  # larger than one part: uploads below it can be multipart


@dataclass
class S3Portal:
    app: FastAPI
    client: httpx.AsyncClient
    user: Any
    bucket: str
    s3: S3Server

    def keys(self) -> list[str]:
        return self.s3.keys(self.bucket)


@pytest.fixture
async def s3_portal(
    database_url: str, tmp_path: Path, s3_server: S3Server, aws_env: None
) -> AsyncIterator[S3Portal]:
    bucket = s3_server.new_bucket()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        storage_url=f"s3://{bucket}/portal",
        s3_endpoint_url=s3_server.url,
        max_upload_bytes=MAX_FILE,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50060))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            user = await factories.create_user(application.state.portal, plan="PRO")
            await factories.login(c, user.email)
            yield S3Portal(application, c, user, bucket, s3_server)
        await clear_state(application.state.portal)
    assert not (tmp_path / "data" / "files").exists()  # nothing went to the disk


async def test_a_file_goes_to_the_bucket_and_comes_back_in_ranges(s3_portal: S3Portal) -> None:
    c = s3_portal.client
    data = bytes(range(256)) * 400
    r = await c.post("/api/files/upload", files={"file": ("notes.bin", data)})
    assert r.status_code == 201, r.text
    file = r.json()
    (key,) = s3_portal.keys()
    assert key.startswith(f"portal/{s3_portal.user.id}/")

    whole = await c.get(file["url"])
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["content-disposition"] == 'attachment; filename="notes.bin"'
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["cache-control"] == "private, no-cache"
    assert whole.headers["content-length"] == str(len(data))
    etag = whole.headers["etag"]

    part = await c.get(file["url"], headers={"Range": "bytes=1000-1999"})
    assert (part.status_code, part.content) == (206, data[1000:2000])
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = await c.get(file["url"], headers={"Range": "bytes=-10", "If-Range": etag})
    assert (tail.status_code, tail.content) == (206, data[-10:])
    two = await c.get(file["url"], headers={"Range": "bytes=0-1,10-11"})
    assert two.status_code == 206
    assert two.headers["content-type"].startswith("multipart/byteranges")
    outside = await c.get(file["url"], headers={"Range": f"bytes={len(data)}-"})
    assert (outside.status_code, outside.json()) == (
        416,
        {"error": "Requested range not satisfiable"},
    )

    r = await c.delete(f"/api/files/{file['id']}")
    assert r.status_code == 200
    assert s3_portal.keys() == []
    assert (await c.get(file["url"])).status_code == 404


async def test_a_large_file_uploads_in_parts_and_downloads_across_them(
    s3_portal: S3Portal,
) -> None:
    c = s3_portal.client
    data = hashlib.sha256(b"seed").digest() * (MAX_FILE // 32)
    r = await c.post("/api/files/upload", files={"file": ("big.bin", data)})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    whole = await c.get(url)
    assert hashlib.sha256(whole.content).hexdigest() == hashlib.sha256(data).hexdigest()
    span = f"bytes={PART_SIZE - 3}-{PART_SIZE + 2}"
    part = await c.get(url, headers={"Range": span})
    assert (part.status_code, part.content) == (206, data[PART_SIZE - 3 : PART_SIZE + 3])


async def test_a_file_over_the_limit_is_413_and_leaves_no_object_nor_part(
    s3_portal: S3Portal,
) -> None:
    c = s3_portal.client
    r = await c.post("/api/files/upload", files={"file": ("big.bin", b"\1" * (MAX_FILE + 1))})
    assert r.status_code == 413
    assert "too large" in r.json()["error"]
    assert s3_portal.keys() == []
    assert s3_portal.s3.open_uploads(s3_portal.bucket) == []
    assert (await c.get("/api/files")).json()["total"] == 0


async def test_library_downloads_keep_their_caching_headers(s3_portal: S3Portal) -> None:
    c = s3_portal.client
    r = await c.post("/api/stuff/upload", files={"file": ("readme.md", b"# Hello storage\n")})
    assert r.status_code == 201, r.text
    item = r.json()
    found = (await c.get("/api/stuff", params={"search": "storage"})).json()
    assert [i["id"] for i in found["items"]] == [item["id"]]  # its text was read back from S3

    r = await c.get(item["url"])
    assert (r.status_code, r.content) == (200, b"# Hello storage\n")
    assert r.headers["cache-control"] == "private, max-age=3600"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["last-modified"]
    etag = r.headers["etag"]
    again = await c.get(item["url"], headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    part = await c.get(item["url"], headers={"Range": "bytes=2-6"})
    assert (part.status_code, part.content) == (206, b"Hello")

    assert (await c.delete(f"/api/stuff/{item['id']}")).status_code == 200
    assert s3_portal.keys() == []
    assert (await c.get(item["url"])).status_code == 404


async def test_chat_attachments_live_in_the_bucket(s3_portal: S3Portal) -> None:
    c = s3_portal.client
    r = await c.post("/api/chat/attachments", files=[("files", ("p.png", PNG))])
    assert r.status_code == 201, r.text
    (attachment,) = r.json()["attachments"]
    assert len(s3_portal.keys()) == 1
    got = await c.get(attachment["url"])
    assert (got.status_code, got.content) == (200, PNG)
    attachment_id = attachment["url"].rstrip("/").rsplit("/", 1)[1]
    assert (await c.delete(f"/api/chat/attachments/{attachment_id}")).status_code == 200
    assert s3_portal.keys() == []


async def test_a_failed_commit_leaves_no_object(
    s3_portal: S3Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = AsyncSession.commit

    async def fails_with_new_rows(self: AsyncSession) -> None:
        # The commit of a transaction that wrote a row pointing at stored bytes.
        if ON_ROLLBACK in self.info:
            raise OperationalError("COMMIT", {}, Exception("connection lost"))
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", fails_with_new_rows)
    c = s3_portal.client
    r = await c.post("/api/files/upload", files={"file": ("a.txt", b"hello")})
    assert r.status_code == 503, r.text
    r = await c.post("/api/stuff/upload", files={"file": ("a.txt", b"hello")})
    assert r.status_code == 503, r.text
    monkeypatch.undo()
    assert s3_portal.keys() == []
    assert (await c.get("/api/files")).json()["total"] == 0


async def test_an_unreachable_store_is_503(
    database_url: str, tmp_path: Path, aws_env: None
) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        storage_url="s3://nowhere/portal",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
    )
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50061))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            user = await factories.create_user(application.state.portal)
            await factories.login(c, user.email)
            r = await c.post("/api/files/upload", files={"file": ("a.txt", b"hello")})
            assert (r.status_code, r.json()) == (503, {"error": "File storage is unavailable"})
            assert (await c.get("/api/files")).json()["total"] == 0
        await clear_state(application.state.portal)

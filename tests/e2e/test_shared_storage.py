"""Three `llmportal serve` processes that share no disk (a data directory each), one database
and one S3 bucket (STORAGE_URL=s3://..., moto's server): a file uploaded through one instance
downloads and deletes through another. SQLite, or PostgreSQL + Redis with
LLMPORTAL_TEST_DATABASE_URL and LLMPORTAL_TEST_REDIS_URL."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.fixtures.backends import fresh_database, scale_redis_url
from tests.fixtures.factories import PASSWORD
from tests.fixtures.portal_process import Served, cli, fake_portal_toml, portal_env
from tests.fixtures.s3 import AWS_ENV, S3Server, s3_server
from tests.fixtures.upstreams import FakeUpstream, free_port

__all__ = ["s3_server"]

EMAIL = "shared-storage@example.com"
MAX_FILE = 12 * 1024 * 1024


@dataclass
class Instances:
    urls: list[str]
    data_dirs: list[Path]
    bucket: str
    s3: S3Server

    def keys(self) -> list[str]:
        return self.s3.keys(self.bucket)


@pytest.fixture(scope="module")
async def shared_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    tmp = tmp_path_factory.mktemp("shared-db")
    async with fresh_database(tmp) as url:
        yield url


@pytest.fixture(scope="module")
def instances(
    tmp_path_factory: pytest.TempPathFactory,
    fake_upstream: FakeUpstream,
    s3_server: S3Server,
    shared_database: str,
) -> Iterator[Instances]:
    bucket = s3_server.new_bucket()
    shared = {
        "STORAGE_URL": f"s3://{bucket}/portal",
        "S3_ENDPOINT_URL": s3_server.url,
        "MAX_UPLOAD_BYTES": str(MAX_FILE),
    }
    redis_url = scale_redis_url()
    if redis_url:
        shared |= {"REDIS_URL": redis_url, "REDIS_PREFIX": f"shared-{secrets.token_hex(4)}:"}
    served: list[Served] = []
    dirs: list[Path] = []
    try:
        for i in range(3):
            tmp = tmp_path_factory.mktemp(f"instance{i}")
            (tmp / "portal.toml").write_text(fake_portal_toml(fake_upstream.url, "plain"))
            env = portal_env(tmp, shared_database, free_port(), tmp / "portal.toml", **shared)
            env.update(AWS_ENV)
            if i == 0:
                cli(env, "migrate")
                cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
                cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
            served.append(Served(env, tmp / "server.log"))
            served[-1].start()
            dirs.append(tmp / "data")
        yield Instances([s.url for s in served], dirs, bucket, s3_server)
    finally:
        for s in served:
            s.stop()


@pytest.fixture
async def clients(instances: Instances) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One logged-in client per instance; the session cookie of the first works on all."""
    first = httpx.AsyncClient(base_url=instances.urls[0], timeout=60)
    r = await first.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = first.cookies["llmportal_session"]
    out = [first]
    for url in instances.urls[1:]:
        c = httpx.AsyncClient(base_url=url, timeout=60)
        c.cookies.set("llmportal_session", cookie)
        out.append(c)
    yield out
    for c in out:
        await c.aclose()


def assert_no_files_on_disk(instances: Instances) -> None:
    for data in instances.data_dirs:
        files = data / "files"
        assert not files.exists() or not any(files.rglob("*")), files


async def test_a_file_uploaded_through_one_instance_is_served_and_deleted_by_another(
    instances: Instances, clients: list[httpx.AsyncClient]
) -> None:
    one, two, three = clients
    data = b"shared across instances\n" * 1000
    r = await one.post("/api/files/upload", files={"file": ("shared.txt", data)})
    assert r.status_code == 201, r.text
    file = r.json()

    for c in (two, three):
        got = await c.get(file["url"])
        assert (got.status_code, got.content) == (200, data)
        assert got.headers["content-disposition"] == 'attachment; filename="shared.txt"'
    part = await three.get(file["url"], headers={"Range": "bytes=7-12"})
    assert (part.status_code, part.content) == (206, b"across")
    assert part.headers["content-range"] == f"bytes 7-12/{len(data)}"
    assert (await two.get("/api/files")).json()["total"] == 1

    assert (await three.delete(f"/api/files/{file['id']}")).status_code == 200
    for c in clients:
        assert (await c.get(file["url"])).status_code == 404
    assert instances.keys() == []
    assert_no_files_on_disk(instances)


async def test_library_items_revalidate_on_any_instance(
    instances: Instances, clients: list[httpx.AsyncClient]
) -> None:
    one, two, three = clients
    r = await two.post("/api/stuff/upload", files={"file": ("plan.md", b"# The plan\n")})
    assert r.status_code == 201, r.text
    item = r.json()
    got = await one.get(item["url"])
    assert (got.status_code, got.content) == (200, b"# The plan\n")
    assert got.headers["cache-control"] == "private, max-age=3600"
    again = await three.get(item["url"], headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    assert (await one.delete(f"/api/stuff/{item['id']}")).status_code == 200
    assert (await two.get(item["url"])).status_code == 404
    assert instances.keys() == []


async def test_a_large_upload_streams_in_parts_and_an_oversized_one_leaves_nothing(
    instances: Instances, clients: list[httpx.AsyncClient]
) -> None:
    one, two, three = clients
    data = hashlib.sha256(b"big").digest() * (10 * 1024 * 1024 // 32)
    r = await one.post("/api/files/upload", files={"file": ("big.bin", data)})
    assert r.status_code == 201, r.text
    file = r.json()
    got = await two.get(file["url"])
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()

    r = await three.post("/api/files/upload", files={"file": ("huge.bin", b"\1" * (MAX_FILE + 1))})
    assert r.status_code == 413
    assert "too large" in r.json()["error"]
    assert len(instances.keys()) == 1  # the first file only
    assert instances.s3.open_uploads(instances.bucket) == []

    assert (await three.delete(f"/api/files/{file['id']}")).status_code == 200
    assert instances.keys() == []


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF that shows `text` (as tests/gateway/test_completion_attachments.py)."""
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): font})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page.replace_contents(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_an_attachment_uploaded_through_one_reaches_the_model_through_another(
    instances: Instances, clients: list[httpx.AsyncClient], fake_upstream: FakeUpstream
) -> None:
    one, two, _ = clients
    files = [
        ("files", ("notes.txt", b"The secret word is pineapple.")),
        ("files", ("report.pdf", pdf_with_text("The launch code is mango"))),
    ]
    r = await one.post("/api/chat/attachments", files=files)
    assert r.status_code == 201, r.text
    ids = [a["url"].rstrip("/").rsplit("/", 1)[1] for a in r.json()["attachments"]]
    ask = [{"role": "user", "content": "What do my files say?"}]
    r = await two.post(
        "/api/chat/completions", json={"model": "oa-plain", "messages": ask, "attachments": ids}
    )
    assert r.status_code == 200, r.text
    sent = fake_upstream.requests[-1]["body"]["messages"][-1]["content"]
    text = "\n".join(p["text"] for p in sent if p["type"] == "text")
    assert "pineapple" in text
    assert "The launch code is mango" in text
    for attachment_id in ids:
        assert (await two.delete(f"/api/chat/attachments/{attachment_id}")).status_code == 200
    assert instances.keys() == []
    assert_no_files_on_disk(instances)

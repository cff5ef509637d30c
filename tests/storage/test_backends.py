"""The storage contract, run against both backends: a directory, and an S3 bucket on a real
S3 API (moto's server). Writes are all or nothing, reads honour ranges, deletes are quiet."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmportal.errors import PortalError
from llmportal.storage import LocalStorage, Storage, open_url
from llmportal.storage.s3 import PART_SIZE, S3Storage
from tests.fixtures.s3 import S3Server

USER = "u1"


@pytest.fixture(params=["directory", "s3"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server, aws_env: None
) -> AsyncIterator[Storage]:
    if request.param == "directory":
        store: Storage = LocalStorage(str(tmp_path / "files"))
    else:
        bucket = s3_server.new_bucket()
        store = open_url(f"s3://{bucket}/portal", endpoint_url=s3_server.url)
    yield store
    await store.close()


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def everything(store: Storage) -> list[tuple[str, str, int]]:
    return sorted([(o.user_id, o.name, o.size) async for o in store.list_objects()])


async def read_all(store: Storage, name: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in store.read_range(USER, name, start, length)])


async def test_a_saved_stream_reads_back_whole_and_in_ranges(backend: Storage) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 100
    stored = await backend.save_stream(
        USER, chunks_of(data, 1000), filename="a.pdf", max_bytes=10**6
    )
    assert stored.name.endswith(".pdf")
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert stored.mime_type == "application/pdf"
    found = await backend.stat(USER, stored.name)
    assert found is not None and found.size == len(data)
    assert await read_all(backend, stored.name) == data
    assert await read_all(backend, stored.name, 100, 50) == data[100:150]
    assert await read_all(backend, stored.name, len(data) - 10) == data[-10:]
    assert await backend.read_head(USER, stored.name, 9) == b"%PDF-1.4\n"
    assert await backend.read_head(USER, stored.name, 10**6) == data
    async with backend.local_copy(USER, stored.name) as path:
        assert path.read_bytes() == data
    assert await everything(backend) == [(USER, stored.name, len(data))]


async def test_an_empty_file_is_stored_and_reads_back_empty(backend: Storage) -> None:
    stored = await backend.save_stream(USER, chunks_of(b""), filename="e.txt", max_bytes=10)
    assert stored.size == 0
    assert (await backend.stat(USER, stored.name)) is not None
    assert await backend.read_head(USER, stored.name) == b""


async def test_a_large_file_streams_in_parts_and_reads_back(backend: Storage) -> None:
    data = bytes(range(256)) * (PART_SIZE * 2 // 256 + 1000)  # three parts, the last short
    stored = await backend.save_stream(USER, chunks_of(data), filename="big.bin", max_bytes=10**9)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (
        await read_all(backend, stored.name, PART_SIZE - 5, 10)
        == data[PART_SIZE - 5 : PART_SIZE + 5]
    )
    assert (
        hashlib.sha256(await read_all(backend, stored.name)).digest()
        == hashlib.sha256(data).digest()
    )
    if isinstance(backend, S3Storage):
        head = await (await backend.client()).head_object(
            Bucket=backend.bucket, Key=backend.key(USER, stored.name)
        )
        assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts


@pytest.mark.parametrize("size", [1000, PART_SIZE * 2 + 10])
async def test_past_max_bytes_is_413_and_leaves_nothing(
    backend: Storage, size: int, s3_server: S3Server
) -> None:
    with pytest.raises(PortalError) as refused:
        await backend.save_stream(
            USER, chunks_of(b"x" * size), filename="a.txt", max_bytes=size - 1
        )
    assert refused.value.status == 413
    assert await everything(backend) == []
    if isinstance(backend, S3Storage):
        assert s3_server.open_uploads(backend.bucket) == []  # the multipart upload was aborted


async def test_a_source_that_fails_midway_leaves_nothing(
    backend: Storage, s3_server: S3Server
) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        yield b"y" * (PART_SIZE + 1)  # enough for a first part to be uploaded
        raise PortalError(400, "Upload interrupted")

    with pytest.raises(PortalError):
        await backend.save_stream(USER, breaks(), filename="a.txt", max_bytes=10**9)
    assert await everything(backend) == []
    if isinstance(backend, S3Storage):
        assert s3_server.open_uploads(backend.bucket) == []


async def test_delete_removes_and_is_quiet_about_what_is_not_there(backend: Storage) -> None:
    stored = await backend.save_stream(USER, chunks_of(b"hello"), filename="h.txt", max_bytes=10)
    await backend.delete(USER, stored.name)
    assert await backend.stat(USER, stored.name) is None
    assert await everything(backend) == []
    await backend.delete(USER, stored.name)  # again: nothing to do
    await backend.delete("../etc", "passwd")  # not a name storage makes: nothing to do
    with pytest.raises(PortalError) as missing:
        await read_all(backend, stored.name)
    assert missing.value.status == 404


@pytest.mark.parametrize(
    ("user_id", "name"), [("..", "x"), ("u1", "../x"), ("u1", ".x"), ("u/1", "x")]
)
async def test_names_storage_cannot_have_made_are_404(
    backend: Storage, user_id: str, name: str
) -> None:
    assert await backend.stat(user_id, name) is None
    with pytest.raises(PortalError) as refused:
        await backend.read_head(user_id, name)
    assert refused.value.status == 404


async def test_users_are_kept_apart(backend: Storage) -> None:
    mine = await backend.save_stream("u1", chunks_of(b"mine"), filename="a.txt", max_bytes=10)
    assert await backend.stat("u2", mine.name) is None
    assert await backend.read_head("u1", mine.name) == b"mine"

"""The streaming multipart reader under every upload endpoint, seen through /api/files/upload."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from llmportal.config import Settings
from tests.chat.helpers import multipart_body, stored_files


async def in_pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_parts_split_across_tiny_chunks_arrive_intact(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    payload = os.urandom(5000) + b"\r\n--testboundary12" + os.urandom(3000)  # near-boundary bytes
    body, headers = multipart_body([("caption", None, b"a field"), ("file", "r.bin", payload)])
    r = await user_client.post("/api/files/upload", content=in_pieces(body, 7), headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(payload)
    (path,) = stored_files(settings, user.id)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(payload).digest()


async def test_empty_unnamed_part_counts_as_no_file(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    # What a browser form sends when no file was chosen.
    body, headers = multipart_body([("file", "", b"")])
    r = await user_client.post("/api/files/upload", content=body, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "file is required"})
    assert stored_files(settings, user.id) == []


async def post_with_headers(client: httpx.AsyncClient, count: int, size: int) -> httpx.Response:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        + "".join(f"X-Pad-{i}: {'v' * size}\r\n" for i in range(count))
        + 'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        + f"data\r\n--{boundary}--\r\n"
    ).encode()
    return await client.post(
        "/api/files/upload",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


async def test_oversized_part_headers_are_400(user_client: httpx.AsyncClient) -> None:
    r = await post_with_headers(user_client, count=5, size=4000)
    assert (r.status_code, r.json()) == (400, {"error": "Multipart part headers are too large"})
    r = await post_with_headers(user_client, count=20, size=10)
    assert (r.status_code, r.json()) == (400, {"error": "Malformed multipart body"})
    assert (await post_with_headers(user_client, count=2, size=100)).status_code == 201


async def test_part_without_form_data_name_is_400(user_client: httpx.AsyncClient) -> None:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Type: text/plain\r\n\r\ndata\r\n--{boundary}--\r\n").encode()
    r = await user_client.post(
        "/api/files/upload",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (r.status_code, r.json()) == (400, {"error": "Multipart part without a form-data name"})

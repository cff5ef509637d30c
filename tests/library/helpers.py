"""Small request helpers shared by the library tests."""

from __future__ import annotations

from typing import Any

import httpx

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


async def create_item(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"type": "NOTE", "title": "A note", **fields}
    r = await client.post("/api/stuff", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def upload(
    client: httpx.AsyncClient,
    name: str,
    data: bytes,
    mime: str = "application/octet-stream",
    **fields: str,
) -> httpx.Response:
    return await client.post("/api/stuff/upload", files={"file": (name, data, mime)}, data=fields)


async def uploaded(client: httpx.AsyncClient, name: str, data: bytes, **fields: str) -> Any:
    r = await upload(client, name, data, **fields)
    assert r.status_code == 201, r.text
    return r.json()

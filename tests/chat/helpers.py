from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from llmportal.config import Settings

# A real 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def stored_files(settings: Settings, user_id: str) -> list[Path]:
    """Every file in a user's storage folder, partial writes included."""
    folder = Path(settings.storage_dir) / user_id
    return sorted(p for p in folder.iterdir()) if folder.exists() else []


def multipart_body(
    parts: list[tuple[str, str | None, bytes]], boundary: str = "testboundary123"
) -> tuple[bytes, dict[str, str]]:
    """(field, filename or None, data) parts as a multipart/form-data body and its headers."""
    out = bytearray()
    for name, filename, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(
    client: httpx.AsyncClient, *files: tuple[str, bytes], field: str = "files", **kw: Any
) -> httpx.Response:
    return await client.post(
        "/api/chat/attachments",
        files=[(field, (name, data, "application/octet-stream")) for name, data in files],
        **kw,
    )


async def new_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/chat/sessions", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def new_message(client: httpx.AsyncClient, session_id: str, **body: Any) -> dict[str, Any]:
    payload = {"sessionId": session_id, "role": "user", "content": "hello", **body}
    r = await client.post("/api/chat/messages", json=payload)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out

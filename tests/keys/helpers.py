"""Shared helpers for the keys tests."""

from __future__ import annotations

from typing import Any

import httpx


async def create_key(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Test Key")
    r = await client.post("/api/keys", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}

"""One storage allowance per plan for everything a user stores: library files and notes,
/api/files and chat attachments. Past it, any upload path answers 413 and keeps nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmportal.config import PlanConfig
from llmportal.portal import Portal
from tests.fixtures.factories import login

LIMIT = 1000
FULL = {"error": f"Storage limit reached ({LIMIT} bytes for your plan)"}

Upload = Callable[[httpx.AsyncClient, bytes], Awaitable[httpx.Response]]


async def _library(c: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await c.post("/api/stuff/upload", files={"file": ("l.bin", data, "x/y")})


async def _files(c: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await c.post("/api/files/upload", files={"file": ("f.bin", data, "x/y")})


async def _attachment(c: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await c.post("/api/chat/attachments", files={"files": ("a.bin", data, "x/y")})


PATHS: dict[str, Upload] = {"library": _library, "files": _files, "attachments": _attachment}


@pytest.fixture
async def tiny(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[Any]],
    portal: Portal,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """A user on a plan that allows LIMIT bytes, logged in on `client`."""
    plans = [*portal.settings.catalog.plans, PlanConfig(tier="TINY", name="T", storage_bytes=LIMIT)]
    monkeypatch.setattr(
        portal.settings, "catalog", portal.settings.catalog.model_copy(update={"plans": plans})
    )
    user = await make_user(plan="TINY")
    await login(client, user.email)
    return user


def stored_files(portal: Portal, user: Any) -> list[Path]:
    folder = Path(portal.settings.storage_dir) / user.id
    return sorted(folder.iterdir()) if folder.exists() else []


async def counts(c: httpx.AsyncClient) -> tuple[int, int, int]:
    """(library items, files, storageUsed) as the user sees them."""
    stats = (await c.get("/api/stuff/stats")).json()
    files = (await c.get("/api/files")).json()["total"]
    return stats["total"], files, stats["storageUsed"]


@pytest.mark.parametrize("path", PATHS)
async def test_an_upload_past_the_allowance_is_413_and_keeps_nothing(
    client: httpx.AsyncClient, portal: Portal, tiny: Any, path: str
) -> None:
    send = PATHS[path]
    assert (await send(client, b"\1" * 600)).status_code == 201
    before = await counts(client)
    # Streamed up to what is left (400 bytes), then refused.
    r = await send(client, b"\2" * 600)
    assert (r.status_code, r.json()) == (413, FULL)
    assert await counts(client) == before
    assert len(stored_files(portal, tiny)) == 1
    # What is left still fits.
    assert (await send(client, b"\3" * 400)).status_code == 201
    # Full: refused before the body is read.
    r = await send(client, b"\4")
    assert (r.status_code, r.json()) == (413, FULL)
    assert len(stored_files(portal, tiny)) == 2


async def test_every_upload_path_counts_against_one_allowance(
    client: httpx.AsyncClient, portal: Portal, tiny: Any
) -> None:
    file_id = (await _files(client, b"\1" * 500)).json()["id"]
    assert (await _attachment(client, b"\2" * 300)).status_code == 201
    stats = (await client.get("/api/stuff/stats")).json()
    assert (stats["total"], stats["storageUsed"], stats["storageLimit"]) == (0, 800, LIMIT)
    for send in PATHS.values():
        r = await send(client, b"\3" * 201)
        assert (r.status_code, r.json()) == (413, FULL)
    # A note's text counts too.
    r = await client.post("/api/stuff", json={"type": "NOTE", "title": "n", "content": "x" * 201})
    assert (r.status_code, r.json()) == (413, FULL)
    assert len(stored_files(portal, tiny)) == 2

    # Deleting a file gives its bytes back to every path.
    assert (await client.delete(f"/api/files/{file_id}")).status_code == 200
    assert (await _library(client, b"\4" * 600)).status_code == 201
    assert (await counts(client)) == (1, 0, 900)


async def test_several_attachments_together_past_the_allowance_keep_none(
    client: httpx.AsyncClient, portal: Portal, tiny: Any
) -> None:
    assert (await _files(client, b"\1" * 600)).status_code == 201
    # Each fits in what is left (400), both together do not.
    r = await client.post(
        "/api/chat/attachments",
        files=[("files", ("a.bin", b"\2" * 300, "x/y")), ("files", ("b.bin", b"\3" * 300, "x/y"))],
    )
    assert (r.status_code, r.json()) == (413, FULL)
    assert len(stored_files(portal, tiny)) == 1
    assert (await counts(client))[2] == 600


async def test_concurrent_uploads_cannot_both_pass_the_allowance(
    client: httpx.AsyncClient, portal: Portal, tiny: Any
) -> None:
    # Each fits alone; together they do not. Whatever the order, one is stored.
    results = await asyncio.gather(
        _files(client, b"\1" * 600), _attachment(client, b"\2" * 600), _library(client, b"\3" * 600)
    )
    assert sorted(r.status_code for r in results) == [201, 413, 413]
    assert len(stored_files(portal, tiny)) == 1
    assert (await counts(client))[2] == 600

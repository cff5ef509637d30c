"""Abusive requests are refused cleanly: bodies too large (before they are read), bodies that
trickle in, JSON nested without end, and completion bodies with huge arrays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.app import create_app
from llmportal.bodyguard import JSON_BODY_LIMIT
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories

KEY = {"name": "k"}


async def test_a_body_declared_too_large_is_refused_before_a_byte_is_read(app: FastAPI) -> None:
    read: list[Any] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/keys",
        "raw_path": b"/api/keys",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(1 << 30).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    assert read == []
    assert sent[0]["status"] == 413
    assert b"too large" in sent[1]["body"] and sent[1]["body"].startswith(b'{"error":')


async def test_a_body_that_grows_past_the_cap_is_refused(user_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(JSON_BODY_LIMIT // (1 << 20) + 2):
            yield b"x" * (1 << 20)
        yield b'"}'

    r = await user_client.post(
        "/api/keys", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {"error": "Request body is too large (limit 16 MB)"}
    assert (await user_client.get("/api/keys")).json()["keys"] == []


async def test_json_nested_without_end_is_a_400(user_client: httpx.AsyncClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/keys", "/api/chat/completions", "/v1/messages"):
        r = await user_client.post(path, content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert isinstance(r.json()["error"], str)


@pytest.mark.parametrize("field", ["messages", "tools"])
async def test_completion_arrays_are_bounded(user_client: httpx.AsyncClient, field: str) -> None:
    message = {"role": "user", "content": "x"}
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    body: dict[str, Any] = {"model": "SmolLM2-135M-Instruct", "messages": [message] * 5000}
    if field == "tools":
        body = {"model": "SmolLM2-135M-Instruct", "messages": [message], "tools": [tool] * 5000}
    r = await user_client.post("/api/chat/completions", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": f"{field}: at most 4096 items"}


@pytest.fixture
async def impatient(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, Path]]:
    """An app that waits 0.3 s for each chunk of a body and 1.5 s for the whole of it."""
    settings = make_settings(
        database_url, tmp_path / "data", body_idle_timeout_s=0.3, body_timeout_s=1.5
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application, Path(settings.storage_dir)
        await clear_state(application.state.portal)


@asynccontextmanager
async def _logged_in(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50040))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        user = await factories.create_user(application.state.portal)
        await factories.login(c, user.email)
        yield c


async def test_a_body_that_stops_arriving_is_a_408(impatient: tuple[FastAPI, Path]) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"name": '
        await asyncio.sleep(1.0)
        yield b'"late"}'

    async with _logged_in(impatient[0]) as c:
        r = await c.post(
            "/api/keys", content=stalls(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 408
        assert r.json() == {"error": "The request body arrived too slowly"}
        assert (await c.get("/api/keys")).json()["keys"] == []
        # A prompt body is still fine.
        assert (await c.post("/api/keys", json=KEY)).status_code == 201


async def test_a_trickled_upload_meets_the_deadline_and_leaves_nothing(
    impatient: tuple[FastAPI, Path],
) -> None:
    application, storage = impatient
    boundary = "trickle"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    async def trickles() -> AsyncIterator[bytes]:
        yield head
        for _ in range(40):  # a chunk every 0.1 s: never idle, but never done in 1.5 s
            await asyncio.sleep(0.1)
            yield b"x" * 100
        yield f"\r\n--{boundary}--\r\n".encode()

    async with _logged_in(application) as c:
        r = await c.post(
            "/api/files/upload",
            content=trickles(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 408
        assert (await c.get("/api/files")).json()["files"] == []
    assert not [p for p in storage.rglob("*") if p.is_file()]

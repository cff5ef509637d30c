"""A client that hangs up before the first byte: the upstream request is cancelled, the
completion is recorded once (499) and its quota reservation is given back.

The app is called as a server would call it (ASGI, in this event loop), with a client that
disconnects when the test says so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from llmportal.portal import Portal
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import FakeKeys, wait_usage
from tests.gateway.test_quota_hook import FakeQuota

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def quota(gw_portal: Portal) -> FakeQuota:
    q = FakeQuota()
    gw_portal.services["quota"] = q
    return q


@pytest.fixture
def bearer(fake_keys: FakeKeys) -> bytes:
    fake_keys.keys["hangs-up"] = None
    return b"Bearer hangs-up"


async def call(
    app: FastAPI, bearer: bytes, body: dict[str, Any], gone: asyncio.Event, read: bool = True
) -> list[dict[str, Any]]:
    """POST /v1/chat/completions; the client disconnects once `gone` is set (`read=False`:
    before the app could read the body). What the app sent."""
    raw = orjson.dumps(body)
    sent: list[dict[str, Any]] = []
    delivered = not read

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        await asyncio.sleep(0)  # a server that writes to its socket lets other tasks run

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"authorization", bearer),
        ],
        "client": ("127.0.0.1", 50020),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return sent


async def hang_up_when_asked(gone: asyncio.Event, upstream: FakeUpstream) -> None:
    """Hang up once the upstream has the request (it answers only LATE_S later)."""
    assert await upstream.wait_requests(len(upstream.requests) + 1)
    gone.set()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["oa-late", "an-late"])
async def test_client_gone_while_the_upstream_thinks(
    gw_app: FastAPI,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
    bearer: bytes,
    quota: FakeQuota,
    model: str,
    stream: bool,
) -> None:
    fake_upstream.disconnects.clear()
    gone = asyncio.Event()
    body = {"model": model, "messages": HELLO, "stream": stream}
    hang_up = asyncio.create_task(hang_up_when_asked(gone, fake_upstream))
    sent = await call(gw_app, bearer, body, gone)
    await hang_up
    # The upstream request was cancelled before it answered: nothing of it was relayed.
    assert await fake_upstream.wait_disconnect("late")
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    rows = await wait_usage(gw_portal)
    assert [(r.model, r.stream, r.status, r.http_status) for r in rows] == [
        (model, stream, "error", 499)
    ]
    assert [c[0] for c in quota.calls] == ["reserve", "release"]


async def test_client_gone_between_the_first_event_and_the_first_byte(
    gw_app: FastAPI,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
    bearer: bytes,
    quota: FakeQuota,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upstream stream is open, the response not yet started when the client goes: the
    response never reads the events, and still closes the upstream and accounts the stream."""
    fake_upstream.disconnects.clear()
    gone = asyncio.Event()
    gateway = gw_portal.services["gateway"]
    opened = gateway.stream

    async def stream_then_hang_up(*args: Any) -> Any:
        events = await opened(*args)
        gone.set()
        return events

    monkeypatch.setattr(gateway, "stream", stream_then_hang_up)
    body = {"model": "oa-drip", "messages": HELLO, "stream": True}
    await call(gw_app, bearer, body, gone)
    assert await fake_upstream.wait_disconnect("drip")
    rows = await wait_usage(gw_portal)
    assert [(r.model, r.status, r.http_status, r.error) for r in rows] == [
        ("oa-drip", "error", 499, "Client disconnected")
    ]
    assert [c[0] for c in quota.calls][0] == "reserve"
    assert [c[0] for c in quota.calls][1:] in (["release"], ["settle"])


async def test_client_gone_before_its_body_was_read(
    gw_app: FastAPI, gw_portal: Portal, bearer: bytes, quota: FakeQuota
) -> None:
    """The server drops a body the app has not read yet when the client goes: the request is
    recorded all the same, without the model it named."""
    gone = asyncio.Event()
    gone.set()
    sent = await call(gw_app, bearer, {"model": "oa-plain", "messages": HELLO}, gone, read=False)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    rows = await wait_usage(gw_portal)
    assert [(r.model, r.status, r.http_status, r.error) for r in rows] == [
        ("", "error", 499, "Client disconnected")
    ]
    assert quota.calls == []

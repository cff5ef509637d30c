"""Streaming over a real socket (uvicorn on 127.0.0.1, in this event loop): deltas arrive as
they are produced, and a client that hangs up, mid-stream or before the first byte, closes the
upstream request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from llmportal.portal import Portal
from tests.fixtures import factories
from tests.fixtures.in_loop_server import served_in_loop
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import wait_usage


@pytest.fixture(scope="module")
async def served(gw_app: FastAPI) -> AsyncIterator[str]:
    async with served_in_loop(gw_app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def http_chat(served: str, gw_user: object) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        await factories.login(client, gw_user.email)  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize("model", ["oa-drip", "an-drip"])
async def test_client_disconnect_closes_the_upstream(
    http_chat: httpx.AsyncClient, fake_upstream: FakeUpstream, gw_portal: Portal, model: str
) -> None:
    fake_upstream.disconnects.clear()
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    async with http_chat.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        seen = 0
        async for line in lines:
            if line.startswith("data: ") and "content" in line:
                seen += 1
                if seen == 3:
                    break  # three deltas arrived while the upstream is still going
    # Leaving the block closed our connection mid-stream.
    assert await fake_upstream.wait_disconnect("drip")
    rows = await wait_usage(gw_portal)
    assert [(x.model, x.status, x.http_status, x.error) for x in rows] == [
        (model, "error", 499, "Client disconnected")
    ]
    assert rows[0].completion_tokens > 0


async def test_local_model_stream_is_relayed_token_by_token(
    http_chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    body = {
        "model": "SmolLM2-135M-Instruct",
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "max_tokens": 200,
        "stream": True,
    }
    async with http_chat.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        deltas = 0
        async for line in r.aiter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get(
                "content"
            ):
                deltas += 1
                if deltas == 2:
                    break  # and hang up
    rows = await wait_usage(gw_portal)
    assert [(x.status, x.http_status) for x in rows] == [("error", 499)]
    assert 2 <= rows[0].completion_tokens < 200
    # The model is free again: the next request completes.
    r2 = await http_chat.post(
        "/v1/chat/completions", json={**body, "stream": False, "max_tokens": 2}
    )
    assert r2.status_code == 200


@pytest.mark.parametrize("model", ["oa-late", "an-late"])
async def test_client_gone_before_the_first_byte_is_recorded_as_499(
    http_chat: httpx.AsyncClient, fake_upstream: FakeUpstream, gw_portal: Portal, model: str
) -> None:
    fake_upstream.disconnects.clear()
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    asked = len(fake_upstream.requests) + 1
    request = asyncio.create_task(http_chat.post("/v1/chat/completions", json=body))
    assert await fake_upstream.wait_requests(asked)
    request.cancel()  # hang up while the upstream thinks: before the first byte
    with pytest.raises(asyncio.CancelledError):
        await request
    assert await fake_upstream.wait_disconnect("late")  # the upstream request was cancelled
    rows = await wait_usage(gw_portal)
    assert [(x.model, x.status, x.http_status) for x in rows] == [(model, "error", 499)]

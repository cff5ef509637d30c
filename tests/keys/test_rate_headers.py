from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from llmportal.middleware import PortalMiddleware
from llmportal.ratelimit import Decision
from llmportal.ratelimit_headers import remember_decision
from tests.conftest import BASE_URL


def tiny_app() -> FastAPI:
    """Only to exercise the middleware on response kinds the keys routes do not produce."""
    app = FastAPI()

    @app.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        remember_decision(request, Decision(True, 10, 7, 0))

        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/own-headers")
    async def own(request: Request) -> StreamingResponse:
        remember_decision(request, Decision(True, 10, 7, 0))
        return StreamingResponse(iter([b"x"]), headers={"X-RateLimit-Remaining": "3"})

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(PortalMiddleware, public_url=BASE_URL, session_cookie="session")
    return app


async def test_headers_reach_streaming_responses() -> None:
    transport = httpx.ASGITransport(app=tiny_app())
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        r = await c.get("/stream")
        assert r.headers["x-ratelimit-limit"] == "10"
        assert r.headers["x-ratelimit-remaining"] == "7"
        assert r.text == "data: 1\n\ndata: [DONE]\n\n"
        r = await c.get("/own-headers")
        assert r.headers["x-ratelimit-remaining"] == "3"
        assert r.headers["x-ratelimit-limit"] == "10"
        r = await c.get("/plain")
        assert "x-ratelimit-limit" not in r.headers

"""Request bodies: a size cap enforced as they arrive, and deadlines for senders that trickle.

Pure ASGI around `receive`, so it holds for every route, whoever reads the body (FastAPI's JSON
parsing, the gateway, the streaming multipart reader). A body declared too large is refused
before a byte of it is read; one that grows too large is refused at the chunk that crosses the
cap. Multipart uploads stream to storage under their own per-file limits (uploads.py) and are
exempt from the cap, not from the deadlines. Once a body is complete, `receive` is passed
through untouched: responses listen on it for the client's disconnect.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmportal.jsonio import FastJSONResponse

MB = 1024 * 1024
JSON_BODY_LIMIT = 16 * MB  # a 2-million-character canvas, escaped, with room
COMPLETION_BODY_LIMIT = 32 * MB  # a few base64 images
_COMPLETION_PATHS = ("/api/chat/completions", "/v1/chat/completions", "/v1/messages")


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request body is too large (limit {limit // MB} MB)")


def body_limit(scope: Scope) -> int | None:
    """The cap for this request's body; None for multipart uploads."""
    if scope["path"] in _COMPLETION_PATHS:
        return COMPLETION_BODY_LIMIT
    for name, value in scope["headers"]:
        if name == b"content-type" and value.lower().startswith(b"multipart/"):
            return None
    return JSON_BODY_LIMIT


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, *, idle_timeout_s: float, total_timeout_s: float) -> None:
        self.app = app
        self.idle_timeout_s = idle_timeout_s
        self.total_timeout_s = total_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = _declared_length(scope)
        if limit is not None and declared is not None and declared > limit:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        await self.app(scope, self._guarded(receive, limit), send)

    def _guarded(self, receive: Receive, limit: int | None) -> Receive:
        deadline = time.monotonic() + self.total_timeout_s
        received = 0
        complete = False

        async def guarded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            wait = min(self.idle_timeout_s, deadline - time.monotonic())
            try:
                async with asyncio.timeout(max(wait, 0)):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, "The request body arrived too slowly") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if limit is not None and received > limit:
                    raise _too_large(limit)
            else:
                complete = True
            return message

        return guarded_receive

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: HTTPException) -> None:
        response = FastJSONResponse(
            {"error": exc.detail}, status_code=exc.status_code, headers={"Connection": "close"}
        )
        await response(scope, receive, send)

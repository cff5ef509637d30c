"""Request bodies: a size cap enforced as they arrive, and deadlines for senders that trickle.

PortalMiddleware applies it around `receive` for every route, whoever reads the body (FastAPI's
JSON parsing, the gateway, the streaming multipart reader). A body declared too large is
refused before a byte of it is read; one that grows too large is refused at the chunk that
crosses the cap. Multipart uploads stream to storage under their own per-file limits
(uploads.py) and are exempt from the cap, not from the deadlines. Once a body is complete,
`receive` is passed through untouched: responses listen on it for the client's disconnect.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException
from starlette.types import Message, Receive, Scope

MB = 1024 * 1024
JSON_BODY_LIMIT = 16 * MB  # a 2-million-character canvas, escaped, with room
COMPLETION_BODY_LIMIT = 32 * MB  # a few base64 images
_COMPLETION_PATHS = ("/api/chat/completions", "/v1/chat/completions", "/v1/messages")
_BODILESS = ("GET", "HEAD", "OPTIONS")


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request body is too large (limit {limit // MB} MB)")


def body_limit(scope: Scope) -> int | None:
    """The cap for this request's body; None for multipart uploads."""
    if scope["path"] in _COMPLETION_PATHS:
        return COMPLETION_BODY_LIMIT
    for name, value in scope["headers"]:
        if name == b"content-type" and value.lower().startswith(b"multipart/"):
            return None
    return JSON_BODY_LIMIT


def declared_too_large(scope: Scope) -> HTTPException | None:
    """The refusal for a body whose Content-Length is over the cap, before reading any of it."""
    if scope["method"] in _BODILESS:
        return None
    limit = body_limit(scope)
    if limit is None:
        return None
    for name, value in scope["headers"]:
        if name == b"content-length":
            return too_large(limit) if value.isdigit() and int(value) > limit else None
    return None


def guarded(
    scope: Scope, receive: Receive, idle_timeout_s: float, total_timeout_s: float
) -> Receive:
    """`receive` with the cap and the deadlines while the body is arriving."""
    if scope["method"] in _BODILESS:
        return receive
    limit = body_limit(scope)
    deadline = time.monotonic() + total_timeout_s
    received = 0
    complete = False

    async def guarded_receive() -> Message:
        nonlocal received, complete
        if complete:
            return await receive()
        wait = min(idle_timeout_s, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(wait, 0)):
                message = await receive()
        except TimeoutError:
            raise HTTPException(408, "The request body arrived too slowly") from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if limit is not None and received > limit:
                raise too_large(limit)
        else:
            complete = True
        return message

    return guarded_receive

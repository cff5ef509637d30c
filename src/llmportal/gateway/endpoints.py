"""Completions and model lists over HTTP, in the OpenAI and Anthropic formats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from llmportal.deps import CurrentPrincipal, PortalDep, Principal, resolve_principal
from llmportal.deps import require_permission as _require_permission
from llmportal.errors import PortalError
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.service import FORMATS, Format, GatewayService, Parsed
from llmportal.jsonio import FastJSONResponse
from llmportal.portal import Portal
from llmportal.routing import DirectRoute

log = logging.getLogger("llmportal.gateway")
router = APIRouter(tags=["completions"])
_check_chat = _require_permission("chat")


async def chat_principal(request: Request, portal: Portal) -> Principal:
    """No database session stays open while the model answers: the caller is looked up in a
    short transaction of its own, or not at all for an API key in the key cache."""
    return await _check_chat(await resolve_principal(request, portal))


def gateway_of(portal: Portal) -> GatewayService:
    service: GatewayService = portal.services["gateway"]
    return service


class EventStreamResponse(StreamingResponse):
    """A streaming response that always closes its body iterator, so a client that goes away
    closes the upstream request at once instead of whenever the generator is collected."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def _sse(parsed: Parsed, events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Render the events; a failure after the first byte ends the stream with the format's
    error event (which carries the closing `data: [DONE]`)."""
    wire = FORMATS[parsed.format]
    if parsed.format == "openai":
        rendered = wire.render_stream(events, include_usage=parsed.stream_usage)
    else:
        rendered = wire.render_stream(events)
    try:
        async for chunk in rendered:
            yield chunk
    except UpstreamError as exc:
        yield wire.render_stream_error(exc.message)
    except Exception as exc:
        log.exception("stream failed")
        yield wire.render_stream_error(f"Gateway error: {type(exc).__name__}")
    finally:
        with anyio.CancelScope(shield=True):
            await rendered.aclose()
            await events.aclose()  # type: ignore[attr-defined]


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": {"type": "string"},
                        "messages": {"type": "array", "items": {"type": "object"}},
                        "stream": {"type": "boolean"},
                        "session_id": {"type": "string"},
                    },
                }
            }
        },
    }
}


MAX_BODY_BYTES = 32 * 1024 * 1024  # room for a few base64 images


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past MAX_BODY_BYTES (before reading it all when declared)."""
    too_large = PortalError(413, f"Request body is too large (limit {MAX_BODY_BYTES >> 20} MB)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _completion(request: Request, fmt: Format | None) -> Any:
    """The completion routes take only the request (no FastAPI dependencies to solve on the
    hottest path): the caller first, then the body."""
    portal: Portal = request.app.state.portal
    principal = await chat_principal(request, portal)
    gateway = gateway_of(portal)
    parsed = await gateway.parse(principal, await read_body(request), fmt)
    req = parsed.request
    if not req.stream:
        resp = await gateway.complete(principal, req)
        return FastJSONResponse(FORMATS[parsed.format].render_response(resp))
    events = await gateway.stream(principal, req)
    return EventStreamResponse(
        _sse(parsed, events),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def chat_completions(request: Request) -> Any:
    """OpenAI or Anthropic body (detected), answered in the same format."""
    return await _completion(request, None)


async def v1_chat_completions(request: Request) -> Any:
    return await _completion(request, None)


async def v1_messages(request: Request) -> Any:
    """Anthropic Messages, always."""
    return await _completion(request, "anthropic")


for _path, _endpoint in (
    ("/api/chat/completions", chat_completions),
    ("/v1/chat/completions", v1_chat_completions),
    ("/v1/messages", v1_messages),
):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["POST"],
        openapi_extra=_BODY_DOC,
        route_class_override=DirectRoute,
    )


@router.get("/v1/models")
async def v1_models(principal: CurrentPrincipal, portal: PortalDep) -> dict[str, Any]:
    gateway = gateway_of(portal)
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": gateway.created, "owned_by": m.owned_by}
            for m in gateway.models()
        ],
    }


@router.get("/api/chat/models")
async def chat_models(principal: CurrentPrincipal, portal: PortalDep) -> dict[str, Any]:
    return {"data": [{"id": m.id, "owned_by": m.owned_by} for m in gateway_of(portal).models()]}


async def startup(portal: Portal) -> None:
    gateway = GatewayService.build(
        portal.settings, portal.services.get("usage_writer"), portal.services
    )
    portal.services["gateway"] = gateway
    # Load the local model in the background: the first request need not wait for it.
    portal.services["gateway_warm_up"] = asyncio.create_task(gateway.warm_up())


async def shutdown(portal: Portal) -> None:
    warm_up: asyncio.Task[None] | None = portal.services.pop("gateway_warm_up", None)
    if warm_up is not None:
        await warm_up
    gateway: GatewayService | None = portal.services.pop("gateway", None)
    if gateway is not None:
        await gateway.close()

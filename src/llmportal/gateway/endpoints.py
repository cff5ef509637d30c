"""Completions and model lists over HTTP, in the OpenAI and Anthropic formats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from llmportal.deps import AnyPrincipal, PortalDep, Principal, resolve_principal
from llmportal.deps import require_permission as _require_permission
from llmportal.errors import PortalError
from llmportal.gateway.formats import embeddings, images
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.routing.router import Router
from llmportal.gateway.routing.shared import MemoryRoutingState, RedisRoutingState, RoutingState
from llmportal.gateway.schemas import (
    ANTHROPIC_ANSWERS,
    ANTHROPIC_BODY,
    ANTHROPIC_COUNT_BODY,
    COUNT_ANSWERS,
    COUNT_BODY,
    DETECTED_ANSWERS,
    DETECTED_BODY,
    EMBEDDINGS_ANSWERS,
    EMBEDDINGS_BODY,
    IMAGES_ANSWERS,
    IMAGES_BODY,
    RESPONSES_ANSWERS,
    RESPONSES_BODY,
    OpenAIModelList,
    PortalModelList,
)
from llmportal.gateway.service import (
    DISCONNECTED,
    FORMATS,
    Format,
    GatewayService,
    Parsed,
    Relay,
)
from llmportal.jsonio import FastJSONResponse
from llmportal.portal import Portal
from llmportal.routing import DirectRoute

log = logging.getLogger("llmportal.gateway")
router = APIRouter(tags=["completions"])
_check_chat = _require_permission("chat")
_check_images = _require_permission("images")
T = TypeVar("T")


async def chat_principal(request: Request, portal: Portal) -> Principal:
    """No database session stays open while the model answers: the caller is looked up in a
    short transaction of its own, or not at all for an API key in the key cache."""
    return await _check_chat(await resolve_principal(request, portal))


def gateway_of(portal: Portal) -> GatewayService:
    service: GatewayService = portal.services["gateway"]
    return service


class EventStreamResponse(StreamingResponse):
    """A streaming response that always closes its body and the relay under it, so a client
    that goes away closes the upstream request and accounts the stream at once, instead of
    whenever the generator is collected, or never when the body was not read at all."""

    media_type = "text/event-stream"

    def __init__(self, parsed: Parsed, events: Relay) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(_sse(parsed, events), headers=headers)
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await self.events.aclose()


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """`work`, cancelled when the client disconnects first: the gateway records the completion
    as 499 and closes the upstream request, which would otherwise run on for nobody."""
    with anyio.CancelScope() as scope:
        watcher = asyncio.create_task(_cancel_on_disconnect(request, scope))
        try:
            return await work
        finally:
            watcher.cancel()
    raise PortalError(*DISCONNECTED)


async def _cancel_on_disconnect(request: Request, scope: anyio.CancelScope) -> None:
    # The body is read: what the server has left to say is that the client went away.
    while (await request.receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _sse(parsed: Parsed, events: Relay) -> AsyncIterator[bytes]:
    """Render the events; a failure after the first byte ends the stream with the format's
    error event (which carries the closing `data: [DONE]`)."""
    wire = FORMATS[parsed.format]
    failed = wire.render_stream_error
    if parsed.format == "openai":
        rendered = wire.render_stream(events, include_usage=parsed.stream_usage)
    elif parsed.format == "responses":
        rendered, renderer = wire.render_stream(events, parsed.echo)
        failed = renderer.error  # its error event carries the stream's sequence number
    else:
        rendered = wire.render_stream(events)
    try:
        async for chunk in rendered:
            yield chunk
    except UpstreamError as exc:
        yield failed(exc.message)
    except Exception as exc:
        log.exception("stream failed")
        yield failed(f"Gateway error: {type(exc).__name__}")
    finally:
        with anyio.CancelScope(shield=True):
            await rendered.aclose()
            await events.aclose()


async def _completion(request: Request, fmt: Format | None) -> Any:
    """The completion routes take only the request (no FastAPI dependencies to solve on the
    hottest path): the caller first, then the body."""
    principal, gateway, raw = await _caller_and_body(request)
    parsed = await gateway.parse(principal, raw, fmt)
    req = parsed.request
    if not req.stream:
        resp = await unless_client_leaves(request, gateway.complete(principal, req))
        wire = FORMATS[parsed.format]
        if parsed.echo is not None:
            return FastJSONResponse(wire.render_response(resp, parsed.echo))
        return FastJSONResponse(wire.render_response(resp))
    events = await unless_client_leaves(request, gateway.stream(principal, req))
    return EventStreamResponse(parsed, events)


async def chat_completions(request: Request) -> Any:
    """OpenAI or Anthropic body (detected), answered in the same format."""
    return await _completion(request, None)


async def v1_chat_completions(request: Request) -> Any:
    return await _completion(request, None)


async def v1_messages(request: Request) -> Any:
    """Anthropic Messages, always."""
    return await _completion(request, "anthropic")


async def responses_api(request: Request) -> Any:
    """OpenAI Responses, stateless: translated to the internal model like the other formats."""
    return await _completion(request, "responses")


async def v1_responses(request: Request) -> Any:
    return await _completion(request, "responses")


async def _caller_and_body(
    request: Request, check: Callable[[Principal], Awaitable[Principal]] = _check_chat
) -> tuple[Principal, GatewayService, bytes]:
    """The caller (with the `chat` permission, or the one `check` wants), the gateway and the
    request body; a client gone before its body arrived is recorded as 499."""
    portal: Portal = request.app.state.portal
    principal = await check(await resolve_principal(request, portal))
    gateway = gateway_of(portal)
    try:
        raw = await request.body()  # capped and timed by PortalMiddleware (bodyguard.py)
    except ClientDisconnect:
        await gateway.gone_before_reading(principal)
        raise PortalError(*DISCONNECTED) from None
    return principal, gateway, raw


async def _embeddings(request: Request) -> Any:
    principal, gateway, raw = await _caller_and_body(request)
    req, result = await unless_client_leaves(request, gateway.embed(principal, raw))
    return FastJSONResponse(embeddings.render_response(result, req.base64))


async def embeddings_api(request: Request) -> Any:
    """OpenAI Embeddings, metered as prompt tokens (the key's `chat` permission)."""
    return await _embeddings(request)


async def v1_embeddings(request: Request) -> Any:
    return await _embeddings(request)


async def _images(request: Request) -> Any:
    principal, gateway, raw = await _caller_and_body(request, _check_images)
    result = await unless_client_leaves(request, gateway.generate_images(principal, raw))
    return FastJSONResponse(images.render_response(result))


async def images_api(request: Request) -> Any:
    """OpenAI image generation: the key's `images` permission, priced per image."""
    return await _images(request)


async def v1_images(request: Request) -> Any:
    return await _images(request)


async def _count(request: Request, fmt: Format | None) -> Any:
    portal: Portal = request.app.state.portal
    principal = await chat_principal(request, portal)
    try:
        raw = await request.body()
    except ClientDisconnect:
        raise PortalError(*DISCONNECTED) from None
    count = await gateway_of(portal).count_prompt(principal, raw, fmt)
    return FastJSONResponse({"input_tokens": count})


async def chat_count_tokens(request: Request) -> Any:
    """The prompt tokens of an OpenAI or Anthropic body (detected), as the quota counts them."""
    return await _count(request, None)


async def v1_messages_count_tokens(request: Request) -> Any:
    """Anthropic's token counting: the prompt tokens of a Messages body."""
    return await _count(request, "anthropic")


for _path, _endpoint, _answers, _body in (
    ("/api/chat/completions", chat_completions, DETECTED_ANSWERS, DETECTED_BODY),
    ("/v1/chat/completions", v1_chat_completions, DETECTED_ANSWERS, DETECTED_BODY),
    ("/v1/messages", v1_messages, ANTHROPIC_ANSWERS, ANTHROPIC_BODY),
    ("/api/responses", responses_api, RESPONSES_ANSWERS, RESPONSES_BODY),
    ("/v1/responses", v1_responses, RESPONSES_ANSWERS, RESPONSES_BODY),
    ("/api/embeddings", embeddings_api, EMBEDDINGS_ANSWERS, EMBEDDINGS_BODY),
    ("/v1/embeddings", v1_embeddings, EMBEDDINGS_ANSWERS, EMBEDDINGS_BODY),
    ("/api/images/generations", images_api, IMAGES_ANSWERS, IMAGES_BODY),
    ("/v1/images/generations", v1_images, IMAGES_ANSWERS, IMAGES_BODY),
    ("/api/chat/count_tokens", chat_count_tokens, COUNT_ANSWERS, COUNT_BODY),
    ("/v1/messages/count_tokens", v1_messages_count_tokens, COUNT_ANSWERS, ANTHROPIC_COUNT_BODY),
):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["POST"],
        response_model=None,
        responses=_answers,
        openapi_extra=_body,
        route_class_override=DirectRoute,
    )


@router.get("/v1/models", response_model=OpenAIModelList)
async def v1_models(principal: AnyPrincipal, portal: PortalDep) -> dict[str, Any]:
    gateway = gateway_of(portal)
    return {
        "object": "list",
        "data": [
            {
                "id": m.id,
                "object": "model",
                "created": gateway.created,
                "owned_by": m.owned_by,
                "capabilities": gateway.registry.capabilities(m),
            }
            for m in gateway.models(principal)
        ],
    }


@router.get("/api/chat/models", response_model=PortalModelList)
async def chat_models(principal: AnyPrincipal, portal: PortalDep) -> dict[str, Any]:
    gateway = gateway_of(portal)
    return {
        "data": [
            {"id": m.id, "owned_by": m.owned_by, "capabilities": gateway.registry.capabilities(m)}
            for m in gateway.models(principal)
        ]
    }


def router_of(portal: Portal) -> Router:
    """Deployment routing with the portal's limiter; cooldowns and token counts through Redis
    when it is configured, so that every instance agrees."""
    state: RoutingState = MemoryRoutingState()
    if portal.redis is not None and portal.redis_outage is not None:
        prefix = portal.settings.redis_prefix + "route:"
        state = RedisRoutingState(portal.redis, prefix, portal.redis_outage)
    return Router(portal.limiter, state)


async def startup(portal: Portal) -> None:
    gateway = GatewayService.build(
        portal.settings, portal.services.get("usage_writer"), portal.services, router_of(portal)
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

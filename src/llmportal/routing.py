"""DirectRoute: an APIRoute served without FastAPI's per-request machinery.

A DirectRoute's endpoint takes the Request alone and returns a Response. It is registered and
documented in OpenAPI like any route, but PortalMiddleware serves it straight away (serve_direct):
no router walk, no dependency solving, no Starlette exception middleware. The app's own exception
handlers still answer its errors, so they look exactly as on any route; an exception without a
handler goes on to Starlette's ServerErrorMiddleware (500), as it would from any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import Message, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Any]]


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # Reached only where PortalMiddleware is not installed (it serves these routes itself).
        endpoint: Endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler


def direct_routes(app: FastAPI) -> dict[tuple[str, str], DirectRoute]:
    """(method, path) -> route, for the app's DirectRoutes (their paths are fixed)."""
    found: dict[tuple[str, str], DirectRoute] = {}
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        if isinstance(route, DirectRoute):
            for method in route.methods or ():
                found[(method, route.path)] = route
    return found


def _handler(app: Any, exc: Exception) -> Callable[..., Awaitable[Response]] | None:
    """The app's handler for this exception, as Starlette's ExceptionMiddleware finds it; the
    catch-all (Exception, 500) belongs to ServerErrorMiddleware, further out."""
    handlers: dict[Any, Any] = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            handler: Callable[..., Awaitable[Response]] = handlers[cls]
            return handler
    return None


async def serve_direct(route: DirectRoute, scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = route
    scope["endpoint"] = route.endpoint
    scope["path_params"] = {}
    started = False

    async def send_tracked(message: Message) -> None:
        nonlocal started
        started = True
        await send(message)

    request = Request(scope, receive, send_tracked)
    endpoint: Endpoint = route.endpoint
    try:
        response: Response = await endpoint(request)
    except Exception as exc:
        handler = _handler(scope.get("app"), exc)
        if handler is None or started:
            raise
        response = await handler(request, exc)
    await response(scope, receive, send_tracked)

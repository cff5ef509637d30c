"""DirectRoute: an APIRoute without FastAPI's per-request dependency solving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    """For an endpoint that takes the Request alone and returns a Response: it is documented
    in OpenAPI like any route, but called directly. FastAPI would otherwise solve its
    (empty) dependencies on every request, parsing the query string and the cookies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Awaitable[Any]] = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler

"""X-RateLimit-* headers on every response of a rate-limited request, whatever the handler returns.

A dependency that applies a limit calls `remember_decision(request, decision)`; this middleware
adds the headers when the response starts (streaming responses included), unless the handler or
an error already set them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmportal.ratelimit import Decision

STATE_KEY = "rate_limit_decision"


def remember_decision(request: Request, decision: Decision) -> None:
    setattr(request.state, STATE_KEY, decision)


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Created here so that every copy of the scope further in shares this one dict.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            decision = state.get(STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in decision.headers().items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

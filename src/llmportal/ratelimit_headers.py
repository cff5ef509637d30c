"""X-RateLimit-* headers on every response of a rate-limited request, whatever the handler returns.

A dependency that applies a limit calls `remember_decision(request, decision)`; the portal's
middleware (middleware.PortalMiddleware) adds the headers when the response starts (streaming
responses included), unless the handler or an error already set them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from llmportal.ratelimit import Decision

STATE_KEY = "rate_limit_decision"


def remember_decision(request: Request, decision: Decision) -> None:
    setattr(request.state, STATE_KEY, decision)


def rate_limit_headers(decision: Any, present: set[bytes]) -> list[tuple[bytes, bytes]]:
    """The decision's headers that the response does not carry yet (none without a decision)."""
    if not isinstance(decision, Decision):
        return []
    out = []
    for name, value in decision.headers().items():
        key = name.lower().encode()
        if key not in present:
            out.append((key, value.encode()))
    return out

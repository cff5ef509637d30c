"""The portal's one pure-ASGI middleware: everything done around a request, in a single pass.

- X-Request-ID: kept from the request when sane, else generated; on the response, on every log
  line written while serving it (logs.request_id_var) and sent upstream;
- one access log line and the HTTP metrics per request (logs.log_access);
- the cross-origin check for cookie requests (403 before the app runs) and the security headers;
- X-RateLimit-* headers from the decision a dependency remembered (ratelimit_headers);
- the request body's cap and deadlines (bodyguard);
- the DirectRoutes (the completions), served from here (routing.serve_direct).

One layer instead of one per concern: every layer wraps `send`, which runs for each chunk of a
stream. Here the response start is edited once and the later messages pass straight through.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmportal.bodyguard import declared_too_large, guarded
from llmportal.ids import new_id
from llmportal.logs import log_access, request_id_var, sane_request_id
from llmportal.ratelimit_headers import STATE_KEY, rate_limit_headers
from llmportal.routing import DirectRoute, serve_direct
from llmportal.security.middleware import (
    SAFE_METHODS,
    SECURITY_HEADERS,
    forbid,
    origin_of,
    send_error,
)


class PortalMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        public_url: str,
        session_cookie: str,
        direct: dict[tuple[str, str], DirectRoute] | None = None,
        body_idle_timeout_s: float = 30.0,
        body_timeout_s: float = 600.0,
    ) -> None:
        self.app = app
        self.body_idle_timeout_s = body_idle_timeout_s
        self.body_timeout_s = body_timeout_s
        self.allowed_origin = origin_of(public_url)
        self.cookie_marker = f"{session_cookie}=".encode()
        self.direct = direct or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming: bytes | None = None
        origin: bytes | None = None
        cookie = b""
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = incoming or value
            elif name == b"origin":
                origin = origin or value
            elif name == b"cookie":
                cookie = cookie or value
            elif name == b"authorization":
                authorization = authorization or value
        request_id = (sane_request_id(incoming) if incoming else None) or new_id()
        # Created here so that every copy of the scope further in shares this one dict.
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())
        started = False

        async def send_edited(message: Message) -> None:
            nonlocal status, started
            if started:
                await send(message)
                return
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(rate_limit_headers(state.get(STATE_KEY), present))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                headers.append(id_header)
                message["headers"] = headers
            await send(message)

        try:
            if (
                origin
                and scope["method"] not in SAFE_METHODS
                and not authorization
                and self.cookie_marker in cookie
                and origin.decode("latin-1").lower() != self.allowed_origin
            ):
                await forbid(send_edited)
            elif (refusal := declared_too_large(scope)) is not None:
                # The unread body stays on the connection: close it after this answer.
                close = [(b"connection", b"close")]
                await send_error(send_edited, refusal.status_code, refusal.detail, close)
            else:
                receive = guarded(scope, receive, self.body_idle_timeout_s, self.body_timeout_s)
                if (route := self._direct(scope)) is not None:
                    await serve_direct(route, scope, receive, send_edited)
                else:
                    await self.app(scope, receive, send_edited)
        finally:
            log_access(scope, status, time.perf_counter() - start, request_id)
            request_id_var.reset(token)

    def _direct(self, scope: Scope) -> DirectRoute | None:
        if not self.direct or scope.get("root_path"):
            return None
        return self.direct.get((scope["method"], scope["path"]))

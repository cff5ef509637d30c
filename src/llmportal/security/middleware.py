"""Security headers on every response, and the refusal of cross-origin cookie requests
(middleware.PortalMiddleware applies both)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Send

from llmportal.jsonio import dumps

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def forbid(send: Send) -> None:
    """403 to a cookie request from another origin (one without an Authorization header)."""
    await send_error(send, 403, "Cross-origin request refused")


async def send_error(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An {"error": ...} answer sent before the app runs."""
    body = dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})

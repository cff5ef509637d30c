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
    body = dumps({"error": "Cross-origin request refused"})
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

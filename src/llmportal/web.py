"""The browser interface: the built single-page app (web/ -> static/) and its fallback routes.

Every GET that is not an API path answers the app's HTML, so the links mailed to users
(/verify-email?token=..., /reset-password?token=...) and deep links (/chat/ID) load the app.
API paths keep their own routes and JSON 404s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match
from starlette.types import Scope

from llmportal.errors import not_found

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_DIR = STATIC_DIR / "assets"

# Paths the app never answers: the API, the OpenAI/Anthropic-style paths, health and docs.
RESERVED_PREFIXES = ("/api/", "/v1/", "/health/", "/docs/", "/redoc/")
RESERVED_PATHS = {"/api", "/v1", "/health", "/docs", "/redoc", "/openapi.json"}

# The app bundles everything it runs; the API is same-origin; QR codes are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HTML_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
# Asset names carry a content hash, so a name never changes meaning.
ASSET_CACHE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LLM Portal</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>LLM Portal</h1>
<p>The web interface has not been built. Run <code>make run</code> (it builds the interface
with <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>) and reload.</p>
<p>The API is available under <code>/api</code> and <code>/v1</code>.</p></main></body></html>
"""


def is_reserved(path: str) -> bool:
    return path in RESERVED_PATHS or path.startswith(RESERVED_PREFIXES)


class PageRoute(APIRoute):
    """Matches only GET/HEAD outside the API, so unknown API paths and other methods fall
    through to the JSON 404/405 handling."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        if is_reserved(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.api_route("/assets/{name}", methods=["GET", "HEAD"])
async def asset(name: str, request: Request) -> Any:
    path = ASSETS_DIR / name
    # Only plain names of files the build wrote; never a path outside the assets folder.
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise not_found()
    response = FileResponse(path, headers={"Cache-Control": ASSET_CACHE}, stat_result=path.stat())
    etag = response.headers["etag"]
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": ASSET_CACHE})
    return response


@router.api_route("/{page:path}", methods=["GET", "HEAD"])
async def page(page: str) -> Response:
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=HTML_HEADERS)
    return FileResponse(index, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)

"""The browser app's routes: the HTML for every page path, hashed assets with long caching,
a helpful page when the app is not built, and the API's JSON 404s left alone."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from llmportal import web

PAGES = [
    "/",
    "/login",
    "/register",
    "/verify-email?token=abc",
    "/reset-password?token=abc",
    "/forgot-password",
    "/chat",
    "/chat/c123",
    "/keys",
    "/orgs",
    "/orgs/c123",
    "/accept-invitation?token=abc",
    "/usage",
    "/billing",
    "/library",
    "/settings",
]
INDEX = (
    '<!doctype html><title>app</title><script type="module" src="/assets/main-AB12.js"></script>'
)


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in build output, so these tests do not depend on npm having run."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "main-AB12.js").write_text("console.log('app')")
    monkeypatch.setattr(web, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(web, "ASSETS_DIR", tmp_path / "assets")
    return tmp_path


@pytest.mark.parametrize("path", PAGES)
async def test_page_paths_serve_the_app_html(
    client: httpx.AsyncClient, built: Path, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == INDEX
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


async def test_head_of_a_page(client: httpx.AsyncClient, built: Path) -> None:
    r = await client.head("/login")
    assert r.status_code == 200
    assert r.content == b""


async def test_assets_are_cached_for_a_year(client: httpx.AsyncClient, built: Path) -> None:
    r = await client.get("/assets/main-AB12.js")
    assert r.status_code == 200
    assert r.text == "console.log('app')"
    assert "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["etag"]
    again = await client.get("/assets/main-AB12.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/assets/missing.js", "/assets/..%5Cindex.html", "/assets/.x"])
async def test_unknown_or_tricky_assets_are_404(
    client: httpx.AsyncClient, built: Path, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 404
    assert r.json() == {"error": "Not found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nothing-here"),
        ("GET", "/api"),
        ("POST", "/api/nothing-here"),
        ("GET", "/v1/nothing-here"),
        ("DELETE", "/api/chat/nothing"),
        ("GET", "/health/nothing"),
    ],
)
async def test_unknown_api_paths_stay_json_404(
    client: httpx.AsyncClient, built: Path, method: str, path: str
) -> None:
    r = await client.request(method, path)
    assert r.status_code == 404
    assert r.json() == {"error": "Not found"}


async def test_api_routes_keep_their_methods(client: httpx.AsyncClient, built: Path) -> None:
    # GET on a POST-only API route is still the API's 405, never the app's HTML.
    r = await client.get("/api/auth/login")
    assert r.status_code == 405
    assert r.json() == {"error": "Method not allowed"}


async def test_other_methods_on_page_paths_are_not_the_app(
    client: httpx.AsyncClient, built: Path
) -> None:
    r = await client.post("/chat", json={})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")


async def test_api_still_answers(client: httpx.AsyncClient, built: Path) -> None:
    r = await client.get("/health/live")
    assert r.status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "llmportal"


async def test_without_a_build_the_page_says_how_to_build(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "STATIC_DIR", tmp_path / "none")
    monkeypatch.setattr(web, "ASSETS_DIR", tmp_path / "none" / "assets")
    r = await client.get("/verify-email?token=abc")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")
    assert "make run" in r.text
    assert (await client.get("/assets/main.js")).status_code == 404


async def test_the_real_build_links_its_assets(client: httpx.AsyncClient) -> None:
    index = web.STATIC_DIR / "index.html"
    if not index.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("the web app is not built: make test builds it before the tests")
        pytest.skip("the web app is not built (cd web && npm ci && npm run build)")
    html = (await client.get("/")).text
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        r = await client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 1000

from __future__ import annotations

import httpx

from tests.fixtures.factories import login


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    r = await client.get("/health/ready")
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert checks["database"] == "ok"


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/does-not-exist")
    assert r.status_code == 404
    assert r.json() == {"error": "Not found"}


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    r = await client.delete("/health/live")
    assert r.status_code == 405
    assert r.json() == {"error": "Method not allowed"}


async def test_validation_error_is_400_naming_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/login", json={"email": "a@example.com"})
    assert r.status_code == 400
    assert r.json() == {"error": "password is required"}


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "error" in r.json()


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/api/nope"):
        r = await client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_cross_origin_cookie_post_is_refused(client: httpx.AsyncClient, user: object) -> None:
    await login(client, user.email)  # type: ignore[attr-defined]
    evil = await client.post("/api/auth/logout", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert evil.json()["error"] == "Cross-origin request refused"
    same = await client.post("/api/auth/logout", headers={"Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200


async def test_profile_needs_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/user/profile")
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication required"}
    r = await client.get("/api/user/profile", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401

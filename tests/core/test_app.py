from __future__ import annotations

import logging

import httpx
import pytest

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


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    made = await client.get("/health/live")
    assert len(made.headers["x-request-id"]) == 25
    kept = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    bogus = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith tabs"})
    assert bogus.headers["x-request-id"] != "bad id\twith tabs"


async def test_access_log_names_user_not_secrets(
    client: httpx.AsyncClient, user: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmportal.access")
    await login(client, user.email)  # type: ignore[attr-defined]
    await client.get("/api/user/profile")
    lines = [r for r in caplog.records if r.name == "llmportal.access"]
    profile_line = next(r for r in lines if r.getMessage().startswith("GET /api/user/profile"))
    fields = profile_line.fields  # type: ignore[attr-defined]
    assert fields["user"] == user.id  # type: ignore[attr-defined]
    assert fields["status"] == 200
    assert fields["route"] == "/api/user/profile"
    login_line = next(r for r in lines if r.getMessage().startswith("POST /api/auth/login"))
    assert "Correct-Horse" not in str(login_line.__dict__)

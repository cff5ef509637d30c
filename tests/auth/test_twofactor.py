from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from llmportal.portal import Portal
from tests.auth.helpers import NOW, client_from, enable_2fa, totp
from tests.fixtures.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("frozen_clock")


async def _login(client: httpx.AsyncClient, email: str, code: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    if code is not None:
        body["code"] = code
    return await client.post("/api/auth/login", json=body)


async def test_setup_returns_secret_qr_and_otpauth_url(
    user_client: httpx.AsyncClient, user: Any
) -> None:
    r = await user_client.post("/api/auth/2fa/setup")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"secret", "qrCode", "otpauthUrl"}
    assert len(base64.b32decode(body["secret"])) >= 20
    assert body["qrCode"].startswith("data:image/png;base64,")
    png = base64.b64decode(body["qrCode"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    url = urlsplit(body["otpauthUrl"])
    assert url.scheme == "otpauth" and url.netloc == "totp"
    assert unquote(url.path) == f"/LLMPortal:{user.email}"
    query = parse_qs(url.query)
    assert query["issuer"] == ["LLMPortal"]
    assert query["secret"] == [body["secret"]]
    # Pending until verified: the profile still says off, and login needs no code.
    assert (await user_client.get("/api/user/profile")).json()["twoFactorEnabled"] is False


async def test_verify_enables_2fa_and_returns_10_backup_codes(
    user_client: httpx.AsyncClient,
) -> None:
    secret = (await user_client.post("/api/auth/2fa/setup")).json()["secret"]
    r = await user_client.post("/api/auth/2fa/verify", json={"token": totp(secret)})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    codes = body["backupCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(isinstance(c, str) and len(c) >= 10 for c in codes)
    assert (await user_client.get("/api/user/profile")).json()["twoFactorEnabled"] is True


async def test_verify_refuses_wrong_and_reused_codes(user_client: httpx.AsyncClient) -> None:
    secret = (await user_client.post("/api/auth/2fa/setup")).json()["secret"]
    wrong = await user_client.post("/api/auth/2fa/verify", json={"token": totp(secret, steps=5)})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "Invalid two-factor code"}
    not_digits = await user_client.post("/api/auth/2fa/verify", json={"token": "abcdef"})
    assert not_digits.status_code == 400
    assert (await user_client.get("/api/user/profile")).json()["twoFactorEnabled"] is False
    ok = await user_client.post("/api/auth/2fa/verify", json={"token": totp(secret)})
    assert ok.status_code == 200
    again = await user_client.post("/api/auth/2fa/verify", json={"token": totp(secret)})
    assert again.status_code == 409
    assert again.json() == {"error": "Two-factor authentication is already enabled"}


async def test_verify_before_setup_and_setup_when_enabled(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/auth/2fa/verify", json={"token": "123456"})
    assert r.status_code == 400
    assert "setup" in r.json()["error"]
    await enable_2fa(user_client)
    r = await user_client.post("/api/auth/2fa/setup")
    assert r.status_code == 409
    assert r.json() == {"error": "Two-factor authentication is already enabled"}


async def test_2fa_endpoints_need_a_browser_session(
    client: httpx.AsyncClient, key_client: httpx.AsyncClient
) -> None:
    for path, body in [
        ("/api/auth/2fa/setup", None),
        ("/api/auth/2fa/verify", {"token": "123456"}),
        ("/api/auth/2fa/disable", {"password": PASSWORD, "token": "123456"}),
    ]:
        anonymous = await client.post(path, json=body)
        assert anonymous.status_code == 401
        assert anonymous.json() == {"error": "Authentication required"}
        by_key = await key_client.post(path, json=body)
        assert by_key.status_code == 403
        assert by_key.json() == {"error": "This endpoint requires a browser session"}
    # The stand-in key does work where keys are allowed.
    assert (await key_client.get("/api/user/profile")).status_code == 200


async def test_validation_errors(user_client: httpx.AsyncClient) -> None:
    r = await user_client.post("/api/auth/2fa/verify", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "token is required"}
    r = await user_client.post("/api/auth/2fa/disable", json={"token": "123456"})
    assert r.status_code == 400
    assert r.json() == {"error": "password is required"}
    r = await user_client.post("/api/auth/2fa/disable", json={"password": PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "token is required"}


async def test_login_asks_for_the_code(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any
) -> None:
    secret, _ = await enable_2fa(user_client)
    r = await _login(other_client, user.email)
    assert r.status_code == 401
    assert r.json() == {"error": "Two-factor code required", "requires2FA": True}
    assert "set-cookie" not in r.headers
    # A wrong password still gets the plain answer: the 2FA step reveals nothing before it.
    wrong = await other_client.post(
        "/api/auth/login", json={"email": user.email, "password": "Wrong-Passw0rd!", "code": "1"}
    )
    assert wrong.json() == {"error": "Invalid email or password"}
    bad = await _login(other_client, user.email, totp(secret, steps=7))
    assert bad.status_code == 401
    assert bad.json() == {"error": "Invalid two-factor code", "requires2FA": True}
    ok = await _login(other_client, user.email, totp(secret, steps=1))
    assert ok.status_code == 200
    assert ok.json()["twoFactorEnabled"] is True


async def test_totp_used_once_and_drift_of_one_step(
    user_client: httpx.AsyncClient, app: FastAPI, user: Any, frozen_clock: list[float]
) -> None:
    secret, _ = await enable_2fa(user_client)  # spends the code of step NOW
    async with client_from(app, "192.0.2.10") as c:
        reused_setup_code = await _login(c, user.email, totp(secret))
        assert reused_setup_code.status_code == 401
        frozen_clock[0] = NOW + 60  # two steps later
        assert (await _login(c, user.email, totp(secret, steps=1))).status_code == 200  # -1 step
        replay = await _login(c, user.email, totp(secret, steps=1))
        assert replay.status_code == 401
        assert replay.json()["error"] == "Invalid two-factor code"
        # An older step than the last one used is refused even inside the window.
        frozen_clock[0] = NOW + 90
        assert (await _login(c, user.email, totp(secret, steps=4))).status_code == 200  # +1 step
        assert (await _login(c, user.email, totp(secret, steps=3))).status_code == 401
        frozen_clock[0] = NOW + 300
        assert (await _login(c, user.email, totp(secret, steps=12))).status_code == 401  # +2
        assert (await _login(c, user.email, totp(secret, steps=8))).status_code == 401  # -2
        assert (await _login(c, user.email, f" {totp(secret, steps=10)} ")).status_code == 200


async def test_backup_codes_work_once(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any
) -> None:
    _, codes = await enable_2fa(user_client)
    assert (await _login(other_client, user.email, codes[0])).status_code == 200
    reused = await _login(other_client, user.email, codes[0])
    assert reused.status_code == 401
    assert reused.json() == {"error": "Invalid two-factor code", "requires2FA": True}
    # Case and the dash do not matter.
    assert (
        await _login(other_client, user.email, codes[1].upper().replace("-", ""))
    ).status_code == 200
    assert (await _login(other_client, user.email, "aaaaa-bbbbb")).status_code == 401


async def test_wrong_codes_count_towards_the_lockout(
    user_client: httpx.AsyncClient, app: FastAPI, user: Any, portal: Portal
) -> None:
    secret, _ = await enable_2fa(user_client)
    valid = {totp(secret, steps) for steps in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    attempts = portal.settings.login_max_failures
    for i in range(attempts):
        async with client_from(app, f"198.51.100.{i + 1}") as c:
            r = await _login(c, user.email, wrong)
            assert r.status_code == (429 if i == attempts - 1 else 401)
    assert "locked" in r.json()["error"]
    assert int(r.headers["Retry-After"]) == portal.settings.login_lockout_minutes * 60


async def test_disable_with_totp_or_backup_code(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any
) -> None:
    secret, codes = await enable_2fa(user_client)
    wrong_password = await user_client.post(
        "/api/auth/2fa/disable", json={"password": "Wrong-Passw0rd!", "token": totp(secret, 1)}
    )
    assert wrong_password.status_code == 400
    assert wrong_password.json() == {"error": "Incorrect password"}
    wrong_code = await user_client.post(
        "/api/auth/2fa/disable", json={"password": PASSWORD, "token": totp(secret, 9)}
    )
    assert wrong_code.status_code == 400
    assert wrong_code.json() == {"error": "Invalid two-factor code"}
    ok = await user_client.post(
        "/api/auth/2fa/disable", json={"password": PASSWORD, "token": codes[3]}
    )
    assert ok.status_code == 200
    assert ok.json() == {"success": True}
    assert (await _login(other_client, user.email)).status_code == 200
    assert (await user_client.get("/api/user/profile")).json()["twoFactorEnabled"] is False
    not_on = await user_client.post(
        "/api/auth/2fa/disable", json={"password": PASSWORD, "token": totp(secret, 1)}
    )
    assert not_on.status_code == 400
    assert not_on.json() == {"error": "Two-factor authentication is not enabled"}
    # Turning it on again gives a new secret and new codes; the old ones are gone.
    secret2 = (await user_client.post("/api/auth/2fa/setup")).json()["secret"]
    assert secret2 != secret
    r = await user_client.post("/api/auth/2fa/verify", json={"token": pyotp.TOTP(secret2).at(NOW)})
    assert r.status_code == 200
    assert (await _login(other_client, user.email, codes[4])).status_code == 401
    ok = await user_client.post(
        "/api/auth/2fa/disable", json={"password": PASSWORD, "token": totp(secret2, 1)}
    )
    assert ok.status_code == 200


async def test_2fa_guesses_are_rate_limited_per_user(user_client: httpx.AsyncClient) -> None:
    await user_client.post("/api/auth/2fa/setup")
    for _ in range(10):
        r = await user_client.post("/api/auth/2fa/verify", json={"token": "abcdef"})
        assert r.status_code == 400
    r = await user_client.post("/api/auth/2fa/verify", json={"token": "abcdef"})
    assert r.status_code == 429
    assert r.json()["error"].startswith("Too many two-factor attempts")
    assert int(r.headers["Retry-After"]) > 0


async def test_codes_sent_as_json_numbers(
    user_client: httpx.AsyncClient, other_client: httpx.AsyncClient, user: Any
) -> None:
    secret = (await user_client.post("/api/auth/2fa/setup")).json()["secret"]
    r = await user_client.post("/api/auth/2fa/verify", json={"token": int(totp(secret))})
    assert r.status_code == 200
    code = int(totp(secret, steps=1))
    r = await other_client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD, "code": code}
    )
    assert r.status_code == 200

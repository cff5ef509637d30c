"""A real `llmportal serve` process and a real SMTP server: sign up, verify, 2FA, log in again."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pyotp
import pytest

from tests.fixtures.portal_process import portal_env, stop, wait_http
from tests.fixtures.smtp import Inbox, free_port, smtp_server

SRC = Path(__file__).resolve().parents[2] / "src"
PASSWORD = "E2e-Strong-Passw0rd!"

# Models that never load anything: the account flow must not wait on (or need) a model.
CONFIG = """
[[providers]]
id = "unused"
type = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "e2e-unused"
provider = "unused"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Inbox]]:
    with smtp_server() as (inbox, smtp_port):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        (tmp_path / "portal.toml").write_text(CONFIG)
        env = portal_env(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path}/portal.db",
            port,
            tmp_path / "portal.toml",
            SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        )
        log = (tmp_path / "server.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmportal", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"{base}/health/live", proc, tmp_path / "server.log")
            yield base, inbox
        finally:
            stop(proc)
            log.close()


async def _mailed_link(inbox: Inbox, to: str, page: str, count: int) -> str:
    """The link in the count-th email to `to` (mail goes out after the response)."""
    for _ in range(100):
        mine = [m for m in inbox.messages if m["To"] == to]
        if len(mine) >= count:
            body = mine[count - 1].get_body(preferencelist=("plain",))
            assert body is not None
            m = re.search(rf"(http\S+/{page}\?token=\S+)", body.get_content())  # type: ignore[attr-defined]
            assert m, body
            return m.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email to {to}")


async def test_sign_up_verify_enable_2fa_and_log_in_with_a_code(
    server: tuple[str, Inbox],
) -> None:
    base, inbox = server
    email = "e2e@example.com"
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        r = await c.post(
            "/api/auth/register", json={"name": "E2E", "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        assert r.json()["requiresVerification"] is True
        assert r.json()["email"] == email

        link = await _mailed_link(inbox, email, "verify-email", 1)
        assert link.startswith(f"{base}/verify-email?token=")
        login = {"email": email, "password": PASSWORD}
        assert (await c.post("/api/auth/login", json=login)).status_code == 403
        token = unquote(link.split("token=", 1)[1])
        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.status_code == 200, r.text

        r = await c.post("/api/auth/login", json=login)
        assert r.status_code == 200, r.text
        assert r.json()["role"] == "ADMIN"  # the first account of a fresh portal
        assert "httponly" in r.headers["set-cookie"].lower()

        setup = (await c.post("/api/auth/2fa/setup")).json()
        assert setup["otpauthUrl"].startswith("otpauth://totp/LLMPortal:")
        totp = pyotp.TOTP(setup["secret"])
        r = await c.post("/api/auth/2fa/verify", json={"token": totp.now()})
        assert r.status_code == 200, r.text
        assert len(r.json()["backupCodes"]) == 10

        assert (await c.post("/api/auth/logout")).json() == {"success": True}
        assert (await c.get("/api/user/profile")).status_code == 401

        r = await c.post("/api/auth/login", json=login)
        assert r.status_code == 401
        assert r.json()["requires2FA"] is True
        # The code of the next step: the current one was spent enabling 2FA.
        r = await c.post("/api/auth/login", json={**login, "code": totp.at(time.time() + 30)})
        assert r.status_code == 200, r.text
        profile = (await c.get("/api/user/profile")).json()
        assert profile["email"] == email
        assert profile["twoFactorEnabled"] is True

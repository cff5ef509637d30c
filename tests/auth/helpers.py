"""Shared steps for the account tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pyotp
from sqlalchemy import update

from llmportal.auth.models import AuthToken
from llmportal.db import transaction, utcnow
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.fixtures.factories import PASSWORD, unique_email

NOW = 1_899_999_990.0  # a fixed instant on a TOTP step boundary (a multiple of 30)


def totp(secret: str, steps: int = 0, at: float = NOW) -> str:
    """The TOTP code `steps` 30-second steps after `at`."""
    return pyotp.TOTP(secret).at(at + steps * 30)


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    body = {"name": "Ada Lovelace", "email": email or unique_email("reg"), "password": password}
    body.update(extra)
    return await client.post("/api/auth/register", json=body)


async def expire_tokens(portal: Portal, purpose: str) -> None:
    """Time travel: every token of that purpose expired a minute ago."""
    async with transaction(portal.sessionmaker) as db:
        await db.execute(
            update(AuthToken)
            .where(AuthToken.purpose == purpose)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


async def set_user(portal: Portal, email: str, **values: Any) -> None:
    async with transaction(portal.sessionmaker) as db:
        await db.execute(update(User).where(User.email == email).values(**values))


async def enable_2fa(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Set up and verify 2FA on a logged-in client at step NOW; returns secret and backup codes."""
    r = await client.post("/api/auth/2fa/setup")
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = await client.post("/api/auth/2fa/verify", json={"token": totp(secret)})
    assert r.status_code == 200, r.text
    codes: list[str] = r.json()["backupCodes"]
    return secret, codes


def client_from(app: Any, ip: str) -> httpx.AsyncClient:
    """A browser at another IP address."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50100))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")

"""TOTP seeds are sealed in the database: a copy of the users table gives no one's second factor."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from llmportal.db import transaction
from llmportal.portal import Portal
from llmportal.security.sealing import seal, unseal
from llmportal.users.models import User
from tests.auth.helpers import enable_2fa, set_user, totp
from tests.fixtures.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("frozen_clock")


async def _stored_secret(portal: Portal, email: str) -> str | None:
    async with transaction(portal.sessionmaker) as db:
        return (await db.execute(select(User.totp_secret).where(User.email == email))).scalar_one()


async def test_the_database_never_holds_the_seed_in_the_clear(
    user_client: httpx.AsyncClient, client: httpx.AsyncClient, user: Any, portal: Portal
) -> None:
    secret, _ = await enable_2fa(user_client)
    stored = await _stored_secret(portal, user.email)
    assert stored is not None and secret not in stored
    assert unseal(portal.secret_key, "totp", stored) == secret

    login = {"email": user.email, "password": PASSWORD, "code": totp(secret, steps=1)}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200


async def test_a_seed_sealed_under_another_key_is_an_invalid_code_not_an_error(
    user_client: httpx.AsyncClient, client: httpx.AsyncClient, user: Any, portal: Portal
) -> None:
    secret, _ = await enable_2fa(user_client)
    await set_user(portal, user.email, totp_secret=seal("another key", "totp", secret))
    login = {"email": user.email, "password": PASSWORD, "code": totp(secret, steps=1)}
    r = await client.post("/api/auth/login", json=login)
    assert r.status_code == 401
    assert r.json()["error"]


async def test_a_seed_stored_before_sealing_still_works(
    user_client: httpx.AsyncClient, client: httpx.AsyncClient, user: Any, portal: Portal
) -> None:
    secret, _ = await enable_2fa(user_client)
    await set_user(portal, user.email, totp_secret=secret)
    login = {"email": user.email, "password": PASSWORD, "code": totp(secret, steps=1)}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200


def test_tampered_or_garbled_values_do_not_open() -> None:
    sealed = seal("k", "totp", "JBSWY3DPEHPK3PXP")
    raw = bytearray(base64.urlsafe_b64decode(sealed.removeprefix("v1:")))
    for at in (0, 12, len(raw) - 1):  # the nonce, the ciphertext, the tag
        tampered = raw.copy()
        tampered[at] ^= 0x01
        assert unseal("k", "totp", "v1:" + base64.urlsafe_b64encode(tampered).decode()) is None
    assert unseal("k", "totp", "v1:not-base64!!") is None
    assert unseal("k", "other purpose", sealed) is None

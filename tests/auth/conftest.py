from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth import twofactor
from llmportal.deps import Principal
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.auth.helpers import NOW
from tests.conftest import BASE_URL
from tests.fixtures.outbox import outbox  # noqa: F401  (fixture)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The 2FA clock, pinned; tests move it by changing clock[0]."""
    now = [NOW]
    monkeypatch.setattr(twofactor, "clock", lambda: now[0])
    yield now


@pytest.fixture
async def key_client(app: FastAPI, portal: Portal, user: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates as `user` through an API key (a stand-in authenticator)."""

    async def authenticate(request: Request, token: str, db: AsyncSession, _: Portal) -> Principal:
        found = await db.get(User, user.id)
        assert found is not None and token == "sk-live-test"
        return Principal(user=found, api_key=object())

    previous = portal.services.get("key_authenticator")
    portal.services["key_authenticator"] = authenticate
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
    headers = {"Authorization": "Bearer sk-live-test"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as c:
        yield c
    if previous is None:
        portal.services.pop("key_authenticator", None)
    else:
        portal.services["key_authenticator"] = previous

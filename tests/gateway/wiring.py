"""Helpers for the completions <-> chat wiring tests: real API keys, a second user, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from llmportal.db import transaction
from llmportal.keys.auth import authenticate_key
from llmportal.keys.schemas import KeyCreate
from llmportal.keys.service import create_key
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.conftest import BASE_URL
from tests.fixtures import factories

KeyMaker = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def api_key(gw_portal: Portal) -> KeyMaker:
    """`await api_key(user, permissions)`: the bearer header of a real key (keys/service.py)."""
    gw_portal.services["key_authenticator"] = authenticate_key

    async def make(user: User, permissions: list[str] | None = None) -> dict[str, str]:
        body = KeyCreate(name="wiring", permissions=permissions)
        async with transaction(gw_portal.sessionmaker) as db:
            _, secret = await create_key(db, gw_portal.settings, gw_portal.secret_key, user, body)
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
async def other_chat(gw_app: FastAPI, gw_portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    """A second user, logged in on the gateway app."""
    user = await factories.create_user(gw_portal)
    transport = httpx.ASGITransport(app=gw_app, client=("127.0.0.1", 50011))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=60) as c:
        await factories.login(c, user.email)
        yield c


async def new_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/chat/sessions", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def messages(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/chat/sessions/{session_id}/messages")
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["messages"]
    return out


async def session_row(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    sessions = (await client.get("/api/chat/sessions")).json()["sessions"]
    found: dict[str, Any] = next(s for s in sessions if s["id"] == session_id)
    return found

"""A second app for the gateway's tests, configured with models on the fake upstream, on
llm-katan and on the local model; a logged-in client on it; helpers to read usage rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.app import create_app
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories, upstreams
from tests.fixtures import katan as katan_fixtures
from tests.fixtures.katan import Katan
from tests.fixtures.upstreams import FakeUpstream, gateway_toml

fake_upstream = upstreams.fake_upstream
katan = katan_fixtures.katan


@pytest.fixture(scope="session")
def gateway_config(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream, katan: Katan
) -> Path:
    path = tmp_path_factory.mktemp("gwconf") / "portal.toml"
    path.write_text(gateway_toml(fake_upstream.url, katan.url))
    return path


@pytest.fixture(scope="session")
async def gw_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, gateway_config: Path
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("gwdata"), config=str(gateway_config)
    )
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture(scope="session")
def gw_portal(gw_app: FastAPI) -> Portal:
    p: Portal = gw_app.state.portal
    return p


@pytest.fixture(autouse=True)
async def _clean_gateway(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "gw_portal" in request.fixturenames:
        portal: Portal = request.getfixturevalue("gw_portal")
        await portal.services["usage_writer"].flush()
        for name in ("quota", "key_authenticator"):
            portal.services.pop(name, None)
        await clear_state(portal)


@pytest.fixture
async def gw_client(gw_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gw_app, client=("127.0.0.1", 50010))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=60) as c:
        yield c


@pytest.fixture
async def gw_user(gw_portal: Portal) -> User:
    user: User = await factories.create_user(gw_portal)
    return user


@pytest.fixture
async def chat(gw_client: httpx.AsyncClient, gw_user: User) -> httpx.AsyncClient:
    """A client logged in (session cookie) on the gateway app."""
    await factories.login(gw_client, gw_user.email)
    return gw_client


@dataclass
class FakeKeys:
    """A stand-in for the keys domain's authenticator: any token names a key with the
    permissions registered for it."""

    user: User
    keys: dict[str, list[str] | None] = field(default_factory=dict)

    async def __call__(
        self, request: Request, token: str, db: AsyncSession, portal: Portal
    ) -> Principal:
        if token not in self.keys:
            raise PortalError(401, "Invalid API key")
        key = SimpleNamespace(id=f"key-{token}", permissions=self.keys[token])
        return Principal(user=self.user, api_key=key)


@pytest.fixture
def fake_keys(gw_portal: Portal, gw_user: User) -> FakeKeys:
    keys = FakeKeys(gw_user)
    gw_portal.services["key_authenticator"] = keys
    return keys


async def usage_rows(portal: Portal) -> list[UsageRecord]:
    await portal.services["usage_writer"].flush()
    async with portal.sessionmaker() as db:
        rows = await db.execute(select(UsageRecord).order_by(UsageRecord.created_at))
        return list(rows.scalars())


async def wait_usage(portal: Portal, n: int = 1, within_s: float = 10.0) -> list[UsageRecord]:
    """The usage rows, once there are `n` (a hung-up stream is accounted as it winds down)."""
    rows = await usage_rows(portal)
    for _ in range(int(within_s / 0.05)):
        if len(rows) >= n:
            break
        await asyncio.sleep(0.05)
        rows = await usage_rows(portal)
    return rows


async def only_usage(portal: Portal) -> UsageRecord:
    rows = await usage_rows(portal)
    assert len(rows) == 1, [(r.model, r.status, r.error) for r in rows]
    return rows[0]


def sse_data(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded ([DONE] kept as the string)."""
    import json

    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out

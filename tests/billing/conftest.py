from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.app import create_app
from llmportal.billing.plans import sync_plans
from llmportal.db import transaction
from llmportal.portal import Portal
from tests.conftest import BASE_URL, make_settings
from tests.fixtures import factories
from tests.fixtures.api_keys import IssuedKey, issue_key
from tests.fixtures.localstripe import SECRET_KEY, localstripe

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture(autouse=True)
async def _plans(portal: Portal) -> None:
    """The harness empties every table after each test; put back what start-up seeds."""
    async with transaction(portal.sessionmaker) as db:
        await sync_plans(db, portal.settings.catalog.plans)


@pytest.fixture(scope="session")
def stripe_url() -> Iterator[str]:
    with localstripe() as url:
        yield url


@pytest.fixture(scope="session")
async def stripe_app(database_url: str, tmp_data: Path, stripe_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_data,
        stripe_secret_key=SECRET_KEY,
        stripe_api_base=stripe_url,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def _client(app: FastAPI, port: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", port))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.fixture
async def stripe_client(stripe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(stripe_app, 50010) as c:
        yield c


@pytest.fixture
async def stripe_other(stripe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(stripe_app, 50011) as c:
        yield c


@pytest.fixture
async def stripe_user(make_user: Callable[..., Any], stripe_client: httpx.AsyncClient) -> Any:
    """A user logged in on `stripe_client` (the portal with Stripe configured)."""
    user = await make_user()
    await factories.login(stripe_client, user.email)
    return user


@pytest.fixture
async def stripe_other_user(make_user: Callable[..., Any], stripe_other: httpx.AsyncClient) -> Any:
    user = await make_user()
    await factories.login(stripe_other, user.email)
    return user


@pytest.fixture
def stripe_portal(stripe_app: FastAPI) -> Portal:
    p: Portal = stripe_app.state.portal
    return p


KeyIssuer = Callable[[Any], Awaitable[IssuedKey]]


@pytest.fixture
def issue_stripe_key(stripe_portal: Portal) -> KeyIssuer:
    """A real API key (every permission) of a user of the portal with Stripe configured."""

    async def make(user: Any) -> IssuedKey:
        return await issue_key(stripe_portal, user)

    return make

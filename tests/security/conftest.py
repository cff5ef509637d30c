"""An app with every optional part configured (Stripe through localstripe), for sweeps that
visit every route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.app import create_app
from llmportal.billing.plans import sync_plans
from llmportal.db import transaction
from llmportal.portal import Portal
from tests.conftest import BASE_URL, make_settings
from tests.fixtures.localstripe import SECRET_KEY, localstripe


@pytest.fixture(scope="session")
def sweep_stripe_url() -> Iterator[str]:
    with localstripe() as url:
        yield url


@pytest.fixture(scope="session")
async def full_app(
    database_url: str, tmp_data: Path, sweep_stripe_url: str
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_data,
        stripe_secret_key=SECRET_KEY,
        stripe_api_base=sweep_stripe_url,
        stripe_webhook_secret="whsec_sweep",
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def full_portal(full_app: FastAPI) -> Portal:
    portal: Portal = full_app.state.portal
    # The harness empties every table after each test; put back what start-up seeds.
    async with transaction(portal.sessionmaker) as db:
        await sync_plans(db, portal.settings.catalog.plans)
    return portal


def client_for(app: FastAPI, port: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", port))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)

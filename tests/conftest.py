from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from llmportal.app import create_app
from llmportal.config import Settings, load_settings
from llmportal.migrate import upgrade_async
from llmportal.models import Base
from llmportal.portal import Portal
from llmportal.ratelimit import MemoryLimiter
from tests.fixtures import factories
from tests.fixtures.api_keys import IssuedKey, issue_key
from tests.fixtures.backends import fresh_database, scale_database_url, scale_redis_url

BASE_URL = "http://127.0.0.1:8000"


def pytest_report_header(config: pytest.Config) -> str:
    db = "PostgreSQL" if scale_database_url() else "SQLite"
    redis = "Redis" if scale_redis_url() else "in-process limits"
    return f"llmportal backends: {db} + {redis}"


@pytest.fixture(scope="session")
def tmp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
async def database_url(tmp_data: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_data) as url:
        await upgrade_async(url)
        yield url


def make_settings(database_url: str, data_dir: Path, **extra: Any) -> Settings:
    for key in [k for k in os.environ if k.startswith("LLMPORTAL_") and "TEST" not in k]:
        os.environ.pop(key)
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": str(data_dir),
        "storage_dir": str(data_dir / "files"),
        "secret_key": "test-secret-key-test-secret-key-1234",
        "public_url": BASE_URL,
        "redis_url": scale_redis_url(),
        "redis_prefix": f"llmportal-test-{os.getpid()}:",
    }
    values.update(extra)
    config_file = values.pop("config", None)
    return load_settings(config_file, **values)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_data: Path) -> Settings:
    return make_settings(database_url, tmp_data)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="session")
def portal(app: FastAPI) -> Portal:
    p: Portal = app.state.portal
    return p


async def clear_state(portal: Portal, tables: bool = True) -> None:
    if tables:
        await _truncate(portal)
    if portal.redis is not None:
        prefix = portal.settings.redis_prefix
        keys = [k async for k in portal.redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await portal.redis.delete(*keys)
    else:
        portal.limiter = MemoryLimiter()


async def _truncate(portal: Portal) -> None:
    async with portal.engine.begin() as conn:
        names = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        else:
            for name in names:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
async def _clean(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    # Every app the test touched, directly or through another fixture (`client`, a second app
    # built on its own config, ...), leaves no rows and no limiter state for the next test.
    portals: dict[int, Portal] = {}
    funcargs: dict[str, Any] = getattr(request.node, "funcargs", {})
    for value in funcargs.values():
        if isinstance(value, FastAPI) and hasattr(value.state, "portal"):
            portals[id(value.state.portal)] = value.state.portal
    for i, touched in enumerate(portals.values()):
        await clear_state(touched, tables=i == 0)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


@pytest.fixture
async def other_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: its own cookie jar."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


UserFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_user(portal: Portal) -> UserFactory:
    async def make(**kw: Any) -> Any:
        return await factories.create_user(portal, **kw)

    return make


KeyFactory = Callable[..., Awaitable[IssuedKey]]


@pytest.fixture
def key_for(portal: Portal) -> KeyFactory:
    """`await key_for(user, ["chat"])`: a real API key of `user` with those permissions."""

    async def make(user: Any, permissions: list[str] | None = None) -> IssuedKey:
        return await issue_key(portal, user, permissions)

    return make


@pytest.fixture
async def user(make_user: UserFactory) -> Any:
    return await make_user()


@pytest.fixture
async def user_client(client: httpx.AsyncClient, user: Any) -> httpx.AsyncClient:
    """`client`, logged in as `user`."""
    await factories.login(client, user.email)
    return client


@pytest.fixture
async def other_user_client(
    other_client: httpx.AsyncClient, make_user: UserFactory
) -> httpx.AsyncClient:
    """A second, unrelated user logged in on `other_client`."""
    other = await make_user()
    await factories.login(other_client, other.email)
    return other_client

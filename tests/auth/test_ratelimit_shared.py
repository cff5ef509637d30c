"""The account limits hold across instances that share one Redis (scale half of the suite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.app import create_app
from llmportal.config import Settings
from tests.auth.helpers import register
from tests.conftest import BASE_URL, make_settings
from tests.fixtures.backends import scale_redis_url

pytestmark = pytest.mark.skipif(
    not scale_redis_url(), reason="needs LLMPORTAL_TEST_REDIS_URL (instances share Redis)"
)


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.18.0.1", 50020))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def test_limits_are_shared_by_two_instances(
    app: FastAPI, settings: Settings, database_url: str, tmp_path: Path, portal: Any
) -> None:
    second = create_app(make_settings(database_url, Path(settings.data_dir)))
    async with LifespanManager(second), _client(app) as one, _client(second) as two:
        email = {"email": "nobody@example.com"}
        assert (await one.post("/api/auth/forgot-password", json=email)).status_code == 200
        assert (await two.post("/api/auth/forgot-password", json=email)).status_code == 200
        r = await one.post("/api/auth/forgot-password", json=email)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Remaining"] == "0"
        blocked = await two.post("/api/auth/forgot-password", json=email)
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0

        for client in (one, two, one, two, one):
            assert (await register(client)).status_code == 201
        assert (await register(two)).status_code == 429

"""An admin logged in on `other_client`; `user_client` is an ordinary user on `client`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import UserFactory
from tests.fixtures import factories


@pytest.fixture
async def admin(make_user: UserFactory) -> Any:
    return await make_user(admin=True, name="Ada Admin")


@pytest.fixture
async def admin_client(other_client: httpx.AsyncClient, admin: Any) -> httpx.AsyncClient:
    await factories.login(other_client, admin.email)
    return other_client

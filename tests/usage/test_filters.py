from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from llmportal.portal import Portal
from tests.usage.helpers import noon, record, write


async def test_filters_list_the_users_keys_and_models_only(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    other = await make_user()
    await write(
        portal,
        record(user, model="zeta", api_key_id="key_b"),
        record(user, model="alpha", api_key_id="key_a", created_at=noon(40)),
        record(user, model="alpha"),
        record(other, model="secret-model", api_key_id="key_other"),
    )
    r = await user_client.get("/api/usage/filters")
    assert r.status_code == 200
    assert r.json() == {
        "keys": [{"id": "key_a", "name": None}, {"id": "key_b", "name": None}],
        "models": ["alpha", "zeta"],
    }


async def test_filters_of_a_new_user_are_empty(user_client: httpx.AsyncClient) -> None:
    r = await user_client.get("/api/usage/filters")
    assert r.json() == {"keys": [], "models": []}


async def test_filters_need_authentication(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/usage/filters")
    assert r.status_code == 401

"""A key's `models`: glob matching, validation, the key JSON round trip, rotation, and a change
that applies to the very next request (the key cache carries the list)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from llmportal.model_allowlist import allowed, normalize_models
from tests.conftest import BASE_URL
from tests.keys.helpers import bearer, create_key

DEFAULT_MODEL = "SmolLM2-135M-Instruct"  # the one model of the suite's default app


@pytest.mark.parametrize(
    ("model", "lists", "expected"),
    [
        ("gpt-4o", (["gpt-4o*"],), True),
        ("gpt-4o-mini", (["gpt-4o*"],), True),
        ("gpt-4", (["gpt-4o*"],), False),
        ("local/llama-3", (["local/*"],), True),
        ("remote/local/llama", (["local/*"],), False),
        ("o4-mini", (["*-mini"],), True),
        ("o4-mini-high", (["*-mini"],), False),
        ("m1", (["m?"],), True),
        ("m12", (["m?"],), False),
        ("m7", (["m[0-9]"],), True),
        ("GPT-4o", (["gpt-4o"],), False),  # case-sensitive, as model ids are
        ("gpt-4o", (["gpt-4o"],), True),
        ("gpt.4o", (["gpt?4o"],), True),
        ("gptx4o", (["gpt.4o"],), False),  # a dot is a dot, not a regex
        ("anything", (None,), True),
        ("anything", (), True),
        ("anything", ([],), False),
        # Several lists (a key's and, later, its organization's): every non-None one must allow.
        ("gpt-4o", (["gpt-*"], ["*-4o"]), True),
        ("gpt-4o", (["gpt-*"], ["claude-*"]), False),
        ("gpt-4o", (None, ["gpt-4o"]), True),
        ("gpt-4o", (["claude-*"], None), False),
    ],
)
def test_allowed(model: str, lists: tuple[list[str] | None, ...], expected: bool) -> None:
    assert allowed(model, *lists) is expected


def test_normalize_strips_and_drops_duplicates_keeping_order() -> None:
    assert normalize_models([" gpt-4o ", "local/*", "gpt-4o", "local/*"]) == ["gpt-4o", "local/*"]


async def test_models_round_trip_through_the_key_json(user_client: httpx.AsyncClient) -> None:
    created = await create_key(user_client, models=["gpt-4o*", " local/* ", "gpt-4o*"])
    assert created["models"] == ["gpt-4o*", "local/*"]
    got = (await user_client.get(f"/api/keys/{created['id']}")).json()
    assert got["models"] == ["gpt-4o*", "local/*"]
    listed = (await user_client.get("/api/keys")).json()["keys"]
    assert [k["models"] for k in listed] == [["gpt-4o*", "local/*"]]


async def test_models_default_to_every_model(user_client: httpx.AsyncClient) -> None:
    assert (await create_key(user_client))["models"] is None
    key = (await user_client.get("/api/keys")).json()["keys"][0]
    assert key["models"] is None


async def test_patch_sets_changes_keeps_and_clears_models(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client)
    url = f"/api/keys/{key['id']}"
    r = await user_client.patch(url, json={"models": ["*-mini"]})
    assert r.status_code == 200
    assert r.json()["models"] == ["*-mini"]
    # Other fields leave the list alone.
    r = await user_client.patch(url, json={"name": "renamed", "rpmLimit": 10})
    assert r.json()["models"] == ["*-mini"]
    r = await user_client.patch(url, json={"models": None})
    assert r.json()["models"] is None


async def test_rotation_keeps_the_list(user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, models=["local/*"])
    r = await user_client.post(f"/api/keys/{key['id']}/regenerate")
    assert r.status_code == 200
    assert r.json()["models"] == ["local/*"]
    assert r.json()["key"] != key["key"]
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["models"] == ["local/*"]


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([], "models: must list at least one model id or pattern (null allows every model)"),
        (["gpt-4o", "  "], "models: entries must not be empty"),
        (["x" * 201], f"models: '{'x' * 40}…' is longer than 200 characters"),
        (["gpt\n4o"], "models: 'gpt\\n4o' contains a control character"),
        (["gpt-4o", 5], "models.1: Input should be a valid string"),
        ("gpt-4o", "models: Input should be a valid list"),
        ([f"m{i}" for i in range(101)], "models: List should have at most 100 items"),
    ],
)
async def test_models_validation(user_client: httpx.AsyncClient, models: Any, message: str) -> None:
    r = await user_client.post("/api/keys", json={"name": "K", "models": models})
    assert r.status_code == 400
    assert r.json()["error"].startswith(message), r.json()
    assert (await user_client.get("/api/keys")).json() == {"keys": []}
    key = await create_key(user_client, models=["kept"])
    r = await user_client.patch(f"/api/keys/{key['id']}", json={"models": models})
    assert r.status_code == 400
    assert r.json()["error"].startswith(message)
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["models"] == ["kept"]


async def test_a_hundred_models_are_fine(user_client: httpx.AsyncClient) -> None:
    models = [f"m{i}" for i in range(100)]
    assert (await create_key(user_client, models=models))["models"] == models


async def test_another_users_key_is_404(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    key = await create_key(user_client, models=["local/*"])
    r = await other_user_client.patch(f"/api/keys/{key['id']}", json={"models": None})
    assert r.status_code == 404
    assert r.json() == {"error": "API key not found"}
    assert (await user_client.get(f"/api/keys/{key['id']}")).json()["models"] == ["local/*"]


async def test_models_need_a_browser_session(app: FastAPI, user_client: httpx.AsyncClient) -> None:
    key = await create_key(user_client, models=["local/*"])
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        r = await c.patch(
            f"/api/keys/{key['id']}", json={"models": None}, headers=bearer(key["key"])
        )
        assert r.status_code == 403
        assert r.json() == {"error": "This endpoint requires a browser session"}
        r = await c.patch(f"/api/keys/{key['id']}", json={"models": None})
        assert r.status_code == 401


async def test_a_change_applies_to_the_next_request(
    app: FastAPI, user_client: httpx.AsyncClient
) -> None:
    key = await create_key(user_client)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:

        async def listed() -> list[str]:
            r = await c.get("/v1/models", headers=bearer(key["key"]))
            assert r.status_code == 200
            return [m["id"] for m in r.json()["data"]]

        assert await listed() == [DEFAULT_MODEL]
        assert await listed() == [DEFAULT_MODEL]  # now served from the key cache
        r = await user_client.patch(f"/api/keys/{key['id']}", json={"models": ["other-*"]})
        assert r.status_code == 200
        assert await listed() == []
        r = await user_client.patch(f"/api/keys/{key['id']}", json={"models": ["SmolLM2-*"]})
        assert await listed() == [DEFAULT_MODEL]
        # The web session's own list is not a key's.
        c.cookies = user_client.cookies
        r = await c.get("/api/chat/models")
        assert [m["id"] for m in r.json()["data"]] == [DEFAULT_MODEL]

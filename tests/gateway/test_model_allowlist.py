"""A key's model allow-list at the gateway: a model outside it is 403 naming it, in every format
and path, streaming or not, before any quota reservation, upstream call or usage row; the model
lists show only what the key may use; a fallback outside the list is skipped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from llmportal.deps import Principal
from llmportal.keys.auth import authenticate_key
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import only_usage, sse_data, usage_rows

HELLO = [{"role": "user", "content": "Hello"}]
# Chat models on the Anthropic fake (a glob), one embeddings and one image model (exact ids).
ALLOWED = ["an-*", "embed", "painter"]


@dataclass
class RecordingQuota:
    calls: list[str] = field(default_factory=list)

    async def reserve(self, principal: Principal, estimated_tokens: int) -> str:
        self.calls.append("reserve")
        return "r"

    async def settle(self, reservation: str, actual_total_tokens: int) -> None:
        self.calls.append("settle")

    async def release(self, reservation: str) -> None:
        self.calls.append("release")

    async def remaining(self, principal: Principal) -> int | None:
        return None

    async def try_reserve(self, principal: Principal, estimated_tokens: int) -> str:
        return await self.reserve(principal, estimated_tokens)

    def limited(self, principal: Principal) -> bool:
        return False


@pytest.fixture
def quota(gw_portal: Portal) -> RecordingQuota:
    q = RecordingQuota()
    gw_portal.services["quota"] = q
    return q


KeyMaker = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def key_with(chat: httpx.AsyncClient, gw_portal: Portal) -> KeyMaker:
    """`await key_with(models)`: a real key of the logged-in user, made by POST /api/keys; its
    `headers` authenticate as that key (the real authenticator and key cache)."""
    gw_portal.services["key_authenticator"] = authenticate_key

    async def make(models: list[str] | None, **extra: Any) -> dict[str, Any]:
        r = await chat.post("/api/keys", json={"name": "allow-list", "models": models, **extra})
        assert r.status_code == 201, r.text
        key: dict[str, Any] = r.json()
        key["headers"] = {"Authorization": f"Bearer {key['key']}"}
        return key

    return make


def _chat(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "messages": HELLO, "max_tokens": 16, "stream": stream}


def _anthropic(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "system": "Be brief.", "max_tokens": 16, "messages": HELLO} | (
        {"stream": True} if stream else {}
    )


def _responses(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "input": "Hello", "stream": stream}


# (path, body, the model it asks for) for every /v1 and /api route that reaches a model.
REFUSED = [
    ("/v1/chat/completions", _chat("oa-plain", False)),
    ("/v1/chat/completions", _chat("oa-plain", True)),
    ("/api/chat/completions", _chat("oa-plain", True)),
    ("/api/chat/completions", _anthropic("oa-plain", False)),  # detected as Anthropic
    ("/api/chat/completions", _anthropic("oa-plain", True)),
    ("/v1/messages", _anthropic("oa-plain", False)),
    ("/v1/messages", _anthropic("oa-plain", True)),
    ("/v1/responses", _responses("oa-plain", False)),
    ("/v1/responses", _responses("oa-plain", True)),
    ("/api/responses", _responses("oa-plain", True)),
    ("/v1/embeddings", {"model": "az-embed", "input": "Hello"}),
    ("/api/embeddings", {"model": "az-embed", "input": "Hello"}),
    ("/v1/images/generations", {"model": "painter-slow", "prompt": "a fox"}),
    ("/api/images/generations", {"model": "painter-slow", "prompt": "a fox"}),
    ("/v1/messages/count_tokens", {"model": "oa-plain", "messages": HELLO}),
    ("/api/chat/count_tokens", {"model": "oa-plain", "messages": HELLO}),
    # A model that does not exist is refused the same way: a restricted key learns nothing
    # about the catalogue beyond its list.
    ("/v1/chat/completions", _chat("no-such-model", False)),
]


@pytest.mark.parametrize(("path", "body"), REFUSED)
async def test_a_model_outside_the_list_is_refused_before_anything_happens(
    chat: httpx.AsyncClient,
    key_with: KeyMaker,
    quota: RecordingQuota,
    fake_upstream: FakeUpstream,
    gw_portal: Portal,
    path: str,
    body: dict[str, Any],
) -> None:
    key = await key_with(ALLOWED)
    before = len(fake_upstream.requests)
    r = await chat.post(path, json=body, headers=key["headers"])
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/json")  # not a stream
    assert r.json() == {"error": f"Model '{body['model']}' is not allowed for this API key"}
    assert quota.calls == []
    assert await usage_rows(gw_portal) == []
    assert len(fake_upstream.requests) == before


ANSWERED = [
    ("/v1/chat/completions", _chat("an-plain", False)),
    ("/v1/chat/completions", _chat("an-plain", True)),
    ("/api/chat/completions", _anthropic("an-plain", True)),
    ("/v1/messages", _anthropic("an-plain", False)),
    ("/v1/messages", _anthropic("an-plain", True)),
    ("/v1/responses", _responses("an-plain", True)),
    ("/v1/embeddings", {"model": "embed", "input": "Hello"}),
    ("/v1/images/generations", {"model": "painter", "prompt": "a fox"}),
    ("/v1/messages/count_tokens", {"model": "an-plain", "messages": HELLO}),
]


@pytest.mark.parametrize(("path", "body"), ANSWERED)
async def test_a_model_in_the_list_is_answered(
    chat: httpx.AsyncClient,
    key_with: KeyMaker,
    quota: RecordingQuota,
    gw_portal: Portal,
    path: str,
    body: dict[str, Any],
) -> None:
    key = await key_with(ALLOWED)
    r = await chat.post(path, json=body, headers=key["headers"])
    assert r.status_code == 200, r.text
    if body.get("stream"):
        events = sse_data(r.text)
        assert not any(isinstance(e, dict) and "error" in e for e in events), events
    if "count_tokens" not in path:
        row = await only_usage(gw_portal)
        assert (row.model, row.status, row.api_key_id) == (body["model"], "success", key["id"])
        assert quota.calls[0] == "reserve"


async def test_without_a_list_every_model_is_answered(
    chat: httpx.AsyncClient, key_with: KeyMaker
) -> None:
    key = await key_with(None)
    r = await chat.post(
        "/v1/chat/completions", json=_chat("oa-plain", False), headers=key["headers"]
    )
    assert r.status_code == 200, r.text


async def test_model_lists_show_only_what_the_key_may_use(
    chat: httpx.AsyncClient, key_with: KeyMaker, gw_portal: Portal
) -> None:
    every = [m.id for m in gw_portal.services["gateway"].models()]
    key = await key_with(ALLOWED)
    r = await chat.get("/v1/models", headers=key["headers"])
    assert r.status_code == 200
    listed = [m["id"] for m in r.json()["data"]]
    expected = [m for m in every if m.startswith("an-") or m in ("embed", "painter")]
    assert listed == expected
    assert "an-plain" in listed and "oa-plain" not in listed
    r = await chat.get("/api/chat/models", headers=key["headers"])
    assert [m["id"] for m in r.json()["data"]] == expected
    # The browser session (no key) sees the whole catalogue, as before.
    r = await chat.get("/api/chat/models")
    assert [m["id"] for m in r.json()["data"]] == every
    r = await chat.get("/v1/models")
    assert [m["id"] for m in r.json()["data"]] == every


async def test_a_key_with_no_model_in_the_catalogue_lists_none(
    chat: httpx.AsyncClient, key_with: KeyMaker
) -> None:
    key = await key_with(["gpt-5*"])
    r = await chat.get("/v1/models", headers=key["headers"])
    assert r.json() == {"object": "list", "data": []}


async def test_a_fallback_outside_the_list_is_skipped(
    chat: httpx.AsyncClient, key_with: KeyMaker, fake_upstream: FakeUpstream, gw_portal: Portal
) -> None:
    # with-fallback answers 500 upstream; its fallback is an-plain (the Anthropic fake).
    key = await key_with(["with-fallback"])
    before = len(fake_upstream.requests)
    r = await chat.post(
        "/v1/chat/completions", json=_chat("with-fallback", False), headers=key["headers"]
    )
    assert r.status_code == 502, r.text
    tried = [q["path"] for q in fake_upstream.requests[before:]]
    assert tried == ["/v1/chat/completions"]  # with-fallback itself, not an-plain's /v1/messages
    row = await only_usage(gw_portal)
    assert (row.model, row.http_status) == ("with-fallback", 502)


async def test_a_fallback_in_the_list_answers(
    chat: httpx.AsyncClient, key_with: KeyMaker, gw_portal: Portal
) -> None:
    key = await key_with(["with-fallback", "an-plain"])
    r = await chat.post(
        "/v1/chat/completions", json=_chat("with-fallback", False), headers=key["headers"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "with-fallback"  # the model asked for, as without a list
    row = await only_usage(gw_portal)
    assert (row.model, row.status) == ("an-plain", "success")


async def test_a_patch_applies_to_the_next_request(
    chat: httpx.AsyncClient, key_with: KeyMaker, gw_user: User
) -> None:
    key = await key_with(["oa-*"])
    body = _chat("oa-plain", True)
    assert (await chat.post("/v1/messages", json=body, headers=key["headers"])).status_code == 200
    r = await chat.patch(f"/api/keys/{key['id']}", json={"models": ["an-*"]})
    assert r.status_code == 200, r.text
    r = await chat.post("/v1/messages", json=body, headers=key["headers"])
    assert r.status_code == 403
    assert r.json() == {"error": "Model 'oa-plain' is not allowed for this API key"}
    r = await chat.patch(f"/api/keys/{key['id']}", json={"models": None})
    assert (await chat.post("/v1/messages", json=body, headers=key["headers"])).status_code == 200

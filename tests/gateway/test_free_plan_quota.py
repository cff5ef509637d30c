"""A Free user (1,000 tokens a month) can chat: under a token limit the reply gets what is left
of it (max_tokens lowered and sent upstream), until nothing is left and the answer is 429."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from llmportal.gateway.metering import prompt_text
from llmportal.gateway.service import GatewayService
from llmportal.gateway.types import ChatRequest, Message, TextPart
from llmportal.keys.models import ApiKey
from llmportal.portal import Portal
from llmportal.quota.service import QuotaService, build_quota
from llmportal.users.models import User
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.wiring import KeyMaker, api_key
from tests.keys.test_usage import add_usage

__all__ = ["api_key"]

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def quota(gw_portal: Portal) -> QuotaService:
    service = build_quota(gw_portal)
    gw_portal.services["quota"] = service
    return service


async def prompt_tokens(portal: Portal, model: str) -> int:
    gateway: GatewayService = portal.services["gateway"]
    req = ChatRequest(model=model, messages=[Message("user", [TextPart("Hello")])])
    return await gateway.count_tokens(model, prompt_text(req))


def sent_max_tokens(upstream: FakeUpstream) -> int:
    value: int = upstream.requests[-1]["body"]["max_tokens"]
    return value


async def test_free_user_without_max_tokens_gets_what_the_plan_has_left(
    chat: httpx.AsyncClient, quota: QuotaService, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    prompt = await prompt_tokens(gw_portal, "oa-plain")
    r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
    assert r.status_code == 200, r.text  # 1,000 < prompt + default max_tokens (1,024)
    assert sent_max_tokens(fake_upstream) == 1000 - prompt


@pytest.mark.parametrize(("asked", "fmt"), [(5000, "openai"), (5000, "anthropic"), (50, "openai")])
async def test_client_max_tokens_is_clamped_to_what_is_left(
    chat: httpx.AsyncClient,
    quota: QuotaService,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
    asked: int,
    fmt: str,
) -> None:
    model = "oa-plain" if fmt == "openai" else "an-plain"
    path = "/api/chat/completions" if fmt == "openai" else "/v1/messages"
    prompt = await prompt_tokens(gw_portal, model)
    r = await chat.post(path, json={"model": model, "messages": HELLO, "max_tokens": asked})
    assert r.status_code == 200, r.text
    assert sent_max_tokens(fake_upstream) == min(asked, 1000 - prompt)


async def test_free_user_chats_until_the_allowance_is_used_then_429(
    chat: httpx.AsyncClient,
    quota: QuotaService,
    gw_user: User,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
) -> None:
    now = datetime.now(UTC)
    await add_usage(gw_portal, gw_user.id, None, earlier=(now, 900, 60, 0, 100, "success"))
    prompt = await prompt_tokens(gw_portal, "oa-plain")
    statuses, sent = [], []
    for _ in range(5):
        r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
        statuses.append(r.status_code)
        if r.status_code == 200:
            sent.append(sent_max_tokens(fake_upstream))
    # Each answer of the fake upstream costs 17 tokens: 960 -> 977 -> 994 -> 1011.
    assert statuses == [200, 200, 200, 429, 429]
    assert sent == [40 - prompt, 23 - prompt, 6 - prompt]
    assert r.json() == {"error": "Monthly token limit reached"}
    assert int(r.headers["retry-after"]) > 0
    before = len(fake_upstream.requests)
    r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
    assert r.status_code == 429
    assert len(fake_upstream.requests) == before


async def test_a_key_limit_tighter_than_the_plan_clamps_too(
    gw_client: httpx.AsyncClient,
    quota: QuotaService,
    gw_user: User,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
    api_key: KeyMaker,
) -> None:
    headers = await api_key(gw_user)
    async with gw_portal.sessionmaker() as db:
        await db.execute(update(ApiKey).values(monthly_limit=100))
        await db.commit()
    prompt = await prompt_tokens(gw_portal, "oa-plain")
    body = {"model": "oa-plain", "messages": HELLO}
    r = await gw_client.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert sent_max_tokens(fake_upstream) == 100 - prompt


async def test_without_a_limit_max_tokens_is_left_as_the_client_sent_it(
    chat: httpx.AsyncClient, gw_user: User, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    async with gw_portal.sessionmaker() as db:
        await db.execute(update(User).values(plan_tier="UNLIMITED"))
        await db.commit()
    gw_portal.services["quota"] = build_quota(gw_portal)
    r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
    assert r.status_code == 200
    assert "max_tokens" not in fake_upstream.requests[-1]["body"]

"""The quota hook: reserve before the upstream call, settle after success, release on failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.portal import Portal
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import only_usage

HELLO = [{"role": "user", "content": "Hello"}]


@dataclass
class FakeQuota:
    refuse: bool = False
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def reserve(self, principal: Principal, estimated_tokens: int) -> str:
        self.calls.append(("reserve", principal.user.id, estimated_tokens))
        if self.refuse:
            raise PortalError(429, "Monthly token limit reached", headers={"Retry-After": "60"})
        return "r1"

    async def try_reserve(self, principal: Principal, estimated_tokens: int) -> str | None:
        try:
            return await self.reserve(principal, estimated_tokens)
        except PortalError:
            return None

    def limited(self, principal: Principal) -> bool:
        return False

    async def settle(self, reservation: str, actual_total_tokens: int) -> None:
        self.calls.append(("settle", reservation, actual_total_tokens))

    async def release(self, reservation: str) -> None:
        self.calls.append(("release", reservation))

    async def remaining(self, principal: Principal) -> int | None:
        return None  # unlimited: the estimate keeps the client's (or default) max_tokens


@pytest.fixture
def quota(gw_portal: Portal) -> FakeQuota:
    q = FakeQuota()
    gw_portal.services["quota"] = q
    return q


@pytest.mark.parametrize("stream", [False, True])
async def test_success_reserves_then_settles(
    chat: httpx.AsyncClient, quota: FakeQuota, gw_user: Any, stream: bool
) -> None:
    body = {"model": "oa-plain", "messages": HELLO, "max_tokens": 100, "stream": stream}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200
    (kind, user_id, estimated), settle = quota.calls
    assert (kind, user_id) == ("reserve", gw_user.id)
    assert 100 < estimated < 120  # the counted prompt plus max_tokens
    assert settle == ("settle", "r1", 17)


async def test_default_max_tokens_in_the_estimate(
    chat: httpx.AsyncClient, quota: FakeQuota
) -> None:
    await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
    assert 1024 < quota.calls[0][2] < 1044


async def test_failure_releases(chat: httpx.AsyncClient, quota: FakeQuota) -> None:
    r = await chat.post("/api/chat/completions", json={"model": "oa-error500", "messages": HELLO})
    assert r.status_code == 502
    assert [c[0] for c in quota.calls] == ["reserve", "release"]


async def test_tokens_spent_before_a_mid_stream_failure_are_settled(
    chat: httpx.AsyncClient, quota: FakeQuota
) -> None:
    body = {"model": "oa-midstream", "messages": HELLO, "stream": True}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200
    assert quota.calls[-1][0] == "settle" and quota.calls[-1][2] > 0


async def test_refused_reservation_is_429_and_the_upstream_is_not_called(
    chat: httpx.AsyncClient, quota: FakeQuota, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    quota.refuse = True
    before = len(fake_upstream.requests)
    r = await chat.post("/api/chat/completions", json={"model": "oa-plain", "messages": HELLO})
    assert r.status_code == 429
    assert r.json() == {"error": "Monthly token limit reached"}
    assert r.headers["retry-after"] == "60"
    assert len(fake_upstream.requests) == before
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status) == ("error", 429)

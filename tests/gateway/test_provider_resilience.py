"""Upstream faults: retries with backoff on 429 and 5xx, the upstream's Retry-After (capped),
and the per-provider circuit breaker, against the scripted fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers import http
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.breaker import CircuitBreaker, ProviderUnavailable
from llmportal.gateway.providers.http import UpstreamBusy, UpstreamRejected
from llmportal.gateway.providers.openai import OpenAIProvider
from llmportal.gateway.types import ChatRequest, Message, TextPart
from llmportal.portal import Portal
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import wait_usage

REQ = ChatRequest(model="m", messages=[Message(role="user", content=[TextPart("hi")])])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits, recorded instead of slept."""
    seen: list[float] = []

    async def record(delay: float) -> None:
        seen.append(delay)

    monkeypatch.setattr(http, "_sleep", record)
    return seen


@pytest.fixture
async def provider(fake_upstream: FakeUpstream) -> AsyncIterator[OpenAIProvider]:
    cfg = ProviderConfig(
        id="flaky",
        type="openai",
        base_url=f"{fake_upstream.url}/v1",
        timeout_s=1,
        max_retries=2,
        breaker_threshold=3,
        breaker_cooldown_s=30,
    )
    p = OpenAIProvider(cfg)
    p.breaker.clock = Clock()
    yield p
    await p.close()


_seq = iter(range(10**6))


def script(fake: FakeUpstream, *answers: int | tuple[int, dict[str, str]]) -> ModelConfig:
    """A model of its own whose upstream answers these statuses in order."""
    name = f"scripted-{next(_seq)}"
    fake.scripts[name] = [a if isinstance(a, tuple) else (a, {}) for a in answers]
    return ModelConfig(id=name, provider="flaky", upstream_model=name)


def sent(fake: FakeUpstream, model: ModelConfig) -> int:
    return sum(1 for r in fake.requests if r["body"].get("model") == model.upstream_model)


async def test_429_and_5xx_are_retried_with_growing_backoff(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    model = script(fake_upstream, 429, 503, 200)
    resp = await provider.complete(REQ, model)
    assert resp.content == "Hello from the fake upstream."
    assert sent(fake_upstream, model) == 3
    assert len(waits) == 2 and 0 < waits[0] < waits[1]


async def test_retry_after_from_a_429_is_waited_for(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    model = script(fake_upstream, (429, {"Retry-After": "2"}), 200)
    await provider.complete(REQ, model)
    assert sent(fake_upstream, model) == 2
    assert waits == [2.0]


async def test_retry_after_as_an_http_date(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    model = script(fake_upstream, (429, {"Retry-After": when}), 200)
    await provider.complete(REQ, model)
    assert len(waits) == 1 and 3 <= waits[0] <= 5


async def test_a_retry_after_past_the_cap_is_not_waited_for(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    model = script(fake_upstream, (429, {"Retry-After": "120"}), 200)
    with pytest.raises(UpstreamBusy) as caught:
        await provider.complete(REQ, model)
    assert caught.value.status == 502 and caught.value.retry_after == 120
    assert "429" in caught.value.message
    assert sent(fake_upstream, model) == 1 and waits == []


async def test_retries_stop_at_max_retries(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    model = script(fake_upstream, 500, 500, 500, 200)
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(REQ, model)
    assert caught.value.upstream_status == 500
    assert sent(fake_upstream, model) == 3  # 1 + max_retries


async def test_breaker_opens_after_consecutive_failures_and_fails_fast(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    provider.cfg.max_retries = 0
    failing = script(fake_upstream, *[500] * 3)
    for _ in range(3):
        with pytest.raises(UpstreamError) as caught:
            await provider.complete(REQ, failing)
        assert not isinstance(caught.value, ProviderUnavailable)
    assert provider.breaker.state == "open"

    healthy = script(fake_upstream, 200)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(REQ, healthy)
    assert (caught.value.status, caught.value.message) == (502, "Provider 'flaky' is unavailable")
    with pytest.raises(ProviderUnavailable):
        await anext(provider.stream(REQ, healthy))
    assert sent(fake_upstream, healthy) == 0  # nothing was sent while open


async def test_half_open_probe_failure_reopens_and_success_closes(
    provider: OpenAIProvider, fake_upstream: FakeUpstream, waits: list[float]
) -> None:
    provider.cfg.max_retries = 0
    clock = provider.breaker.clock
    assert isinstance(clock, Clock)
    down = script(fake_upstream, *[502] * 4)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            await provider.complete(REQ, down)

    clock.now += 31  # cool-down over: one probe goes through, and fails
    assert provider.breaker.state == "half-open"
    with pytest.raises(UpstreamError) as caught:
        await provider.complete(REQ, down)
    assert not isinstance(caught.value, ProviderUnavailable)
    assert sent(fake_upstream, down) == 4
    with pytest.raises(ProviderUnavailable):  # open again, for another cool-down
        await provider.complete(REQ, down)

    clock.now += 31
    back = script(fake_upstream, 200, 200)
    assert (await provider.complete(REQ, back)).content
    assert provider.breaker.state == "closed"
    assert (await provider.complete(REQ, back)).content
    assert sent(fake_upstream, back) == 2


async def test_rejected_requests_do_not_open_the_breaker(
    provider: OpenAIProvider, fake_upstream: FakeUpstream
) -> None:
    model = ModelConfig(id="bad", provider="flaky", upstream_model="error400")
    for _ in range(5):
        with pytest.raises(UpstreamRejected):
            await provider.complete(REQ, model)
    assert provider.breaker.state == "closed"


def test_half_open_lets_one_probe_through_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker("p", threshold=2, cooldown_s=10, clock=clock)
    breaker.failed()
    breaker.before_call()  # one failure: still closed
    breaker.failed()
    with pytest.raises(ProviderUnavailable):
        breaker.before_call()
    clock.now += 10
    breaker.before_call()  # the probe
    with pytest.raises(ProviderUnavailable):
        breaker.before_call()  # a second caller while the probe is out
    breaker.abandoned()  # the probe was cancelled: another caller may probe
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()


def test_threshold_zero_never_opens() -> None:
    breaker = CircuitBreaker("p", threshold=0, cooldown_s=10)
    for _ in range(100):
        breaker.failed()
    breaker.before_call()
    assert breaker.state == "closed"


async def test_open_breaker_answers_502_json_and_records_usage(
    gw_portal: Portal, chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    registry = gw_portal.services["gateway"].registry
    provider = registry.provider(registry.model("oa-plain"))
    provider.breaker.threshold = 2
    provider.breaker.failed()
    provider.breaker.failed()
    try:
        r = await chat.post(
            "/api/chat/completions",
            json={
                "model": "oa-plain",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert r.status_code == 502
        assert r.json() == {"error": "Provider 'fake-openai' is unavailable"}
        rows = await wait_usage(gw_portal, 1)
        assert [(u.status, u.http_status) for u in rows] == [("error", 502)]
    finally:
        provider.breaker.succeeded()
        provider.breaker.threshold = 0

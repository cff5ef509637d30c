"""The HTTP providers' plumbing against the fake upstream: retries, error mapping, SSE reading."""

from __future__ import annotations

import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.anthropic import AnthropicProvider
from llmportal.gateway.providers.base import UpstreamError, UpstreamTimeout
from llmportal.gateway.providers.http import UpstreamRejected, upstream_message
from llmportal.gateway.providers.openai import OpenAIProvider
from llmportal.gateway.types import ChatRequest, Message, TextPart
from tests.fixtures.upstreams import FakeUpstream

REQ = ChatRequest(model="m", messages=[Message(role="user", content=[TextPart("hi")])])


def openai_provider(fake: FakeUpstream, **kw: object) -> OpenAIProvider:
    cfg = ProviderConfig(
        id="fake",
        type="openai",
        base_url=f"{fake.url}/v1",
        timeout_s=1,
        **kw,  # type: ignore[arg-type]
    )
    return OpenAIProvider(cfg)


def count(fake: FakeUpstream, scenario: str) -> int:
    return sum(1 for r in fake.requests if r["body"].get("model") == scenario)


async def test_5xx_is_retried_max_retries_times(fake_upstream: FakeUpstream) -> None:
    p = openai_provider(fake_upstream, max_retries=2)
    before = count(fake_upstream, "error500")
    try:
        with pytest.raises(UpstreamError) as caught:
            await p.complete(REQ, ModelConfig(id="x", provider="fake", upstream_model="error500"))
    finally:
        await p.close()
    assert count(fake_upstream, "error500") - before == 3
    assert (caught.value.status, caught.value.upstream_status) == (502, 500)


@pytest.mark.parametrize(
    ("scenario", "error"), [("error400", UpstreamRejected), ("error404", UpstreamError)]
)
async def test_4xx_is_not_retried(
    fake_upstream: FakeUpstream, scenario: str, error: type[UpstreamError]
) -> None:
    p = openai_provider(fake_upstream, max_retries=2)
    before = count(fake_upstream, scenario)
    try:
        with pytest.raises(error):
            await p.complete(REQ, ModelConfig(id="x", provider="fake", upstream_model=scenario))
    finally:
        await p.close()
    assert count(fake_upstream, scenario) - before == 1


async def test_timeout_is_not_retried(fake_upstream: FakeUpstream) -> None:
    p = openai_provider(fake_upstream, max_retries=2)
    before = count(fake_upstream, "slow")
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await p.complete(REQ, ModelConfig(id="x", provider="fake", upstream_model="slow"))
    finally:
        await p.close()
    assert caught.value.status == 504
    assert count(fake_upstream, "slow") - before == 1


async def test_anthropic_stream_ignores_pings_and_keeps_block_order(
    fake_upstream: FakeUpstream,
) -> None:
    cfg = ProviderConfig(id="fa", type="anthropic", base_url=fake_upstream.url, timeout_s=5)
    p = AnthropicProvider(cfg)
    model = ModelConfig(id="x", provider="fa", upstream_model="parallel")
    try:
        events = [e async for e in p.stream(REQ, model)]
    finally:
        await p.close()
    names = [type(e).__name__ for e in events]
    assert names[0] == "Start" and names[-2:] == ["Finish", "UsageEvent"]
    assert names.count("ToolCallStart") == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "openai style"}}', "openai style"),
        (
            b'{"type": "error", "error": {"type": "x", "message": "anthropic style"}}',
            "anthropic style",
        ),
        (b'{"error": "plain"}', "plain"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b"", "no details"),
    ],
)
def test_upstream_message_in_any_shape(body: bytes, message: str) -> None:
    assert upstream_message(body) == message

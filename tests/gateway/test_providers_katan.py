"""Each HTTP provider adapter against llm-katan, an emulator nobody here wrote (echo backend:
it answers with the prompt it got, and calls the first tool when tools are offered)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.anthropic import AnthropicProvider
from llmportal.gateway.providers.base import Provider, UpstreamError
from llmportal.gateway.providers.openai import OpenAIProvider
from llmportal.gateway.types import (
    ChatRequest,
    Finish,
    Message,
    Start,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallStart,
    UsageEvent,
)
from tests.fixtures.katan import Katan
from tests.gateway.conftest import sse_data

MODEL = ModelConfig(id="katan-model", provider="k", upstream_model="katan")
TOOL = Tool(
    name="get_weather",
    description="Weather for a place",
    parameters={"type": "object", "properties": {"location": {"type": "string"}}},
)


def request(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(
        model="katan-model",
        messages=[Message(role="user", content=[TextPart(text)])],
        max_tokens=40,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["openai", "anthropic"])
async def provider(request: pytest.FixtureRequest, katan: Katan) -> AsyncIterator[Provider]:
    kind = request.param
    base = f"{katan.url}/v1" if kind == "openai" else katan.url
    cfg = ProviderConfig(id=f"katan-{kind}", type=kind, base_url=base, api_key="k", timeout_s=30)
    p: Provider = OpenAIProvider(cfg) if kind == "openai" else AnthropicProvider(cfg)
    yield p
    await p.close()


async def collect(p: Provider, req: ChatRequest) -> list[StreamEvent]:
    return [event async for event in p.stream(req, MODEL)]


async def test_complete_plain(provider: Provider) -> None:
    resp = await provider.complete(request("ping from the portal"), MODEL)
    assert "ping from the portal" in (resp.content or "")
    assert resp.finish_reason in ("stop", "length")
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.tool_calls == []


async def test_stream_plain(provider: Provider) -> None:
    events = await collect(provider, request("stream me please", stream=True))
    assert isinstance(events[0], Start)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "stream me please" in text
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # relayed in pieces
    assert [e.reason for e in events if isinstance(e, Finish)] in (["stop"], ["length"])
    usage = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert len(usage) == 1 and usage[0].completion_tokens > 0


async def test_complete_with_tools(provider: Provider) -> None:
    resp = await provider.complete(request("weather in Athens?", tools=[TOOL]), MODEL)
    assert resp.finish_reason == "tool_calls"
    assert [c.name for c in resp.tool_calls] == ["get_weather"]
    assert isinstance(json.loads(resp.tool_calls[0].arguments), dict)
    assert resp.tool_calls[0].id


async def test_stream_with_tools(provider: Provider) -> None:
    events = await collect(provider, request("weather?", tools=[TOOL], stream=True))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.index, s.name) for s in starts] == [(0, "get_weather")]
    arguments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert isinstance(json.loads(arguments), dict)
    assert [e.reason for e in events if isinstance(e, Finish)] == ["tool_calls"]


async def test_missing_credentials_are_an_upstream_error(katan: Katan) -> None:
    cfg = ProviderConfig(id="nokey", type="openai", base_url=f"{katan.url}/v1")
    p = OpenAIProvider(cfg)
    try:
        with pytest.raises(UpstreamError) as caught:
            await p.complete(request("hi"), MODEL)
    finally:
        await p.close()
    assert caught.value.status == 502
    assert caught.value.upstream_status == 401
    assert "missing Authorization header" in caught.value.message


@pytest.mark.parametrize("model", ["katan-oa", "katan-an"])
async def test_katan_models_through_the_api_in_both_formats(
    chat: httpx.AsyncClient, model: str
) -> None:
    messages = [{"role": "user", "content": "echo this back"}]
    r = await chat.post("/v1/chat/completions", json={"model": model, "messages": messages})
    assert r.status_code == 200, r.text
    assert "echo this back" in r.json()["choices"][0]["message"]["content"]
    body = {"model": model, "max_tokens": 60, "messages": messages, "stream": True}
    r = await chat.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    text = "".join(
        e["delta"].get("text", "") for e in sse_data(r.text) if e["type"] == "content_block_delta"
    )
    assert "echo this back" in text

"""The in-process llama.cpp provider on the bundled SmolLM2 model: real generations."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.providers.llamacpp import LlamaCppProvider, WorkerCrashed, llama_messages
from llmportal.gateway.types import (
    ChatRequest,
    Finish,
    Message,
    Start,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    UsageEvent,
)
from llmportal.portal import Portal
from tests.gateway.conftest import only_usage, sse_data

LOCAL = "SmolLM2-135M-Instruct"
MODEL = ModelConfig(id=LOCAL, provider="local")


def request(text: str = "Say hello.", max_tokens: int = 8, **kw: object) -> ChatRequest:
    return ChatRequest(
        model=LOCAL,
        messages=[Message(role="user", content=[TextPart(text)])],
        max_tokens=max_tokens,
        temperature=0.0,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[LlamaCppProvider]:
    provider = LlamaCppProvider(ProviderConfig(id="local", type="llamacpp", n_ctx=512))
    yield provider
    await provider.close()


async def test_complete_counts_tokens_with_the_model(local: LlamaCppProvider) -> None:
    resp = await local.complete(request(max_tokens=8), MODEL)
    assert resp.content
    assert resp.model == LOCAL
    assert resp.usage.prompt_tokens > 5
    assert 1 <= resp.usage.completion_tokens <= 8
    if resp.finish_reason == "length":
        assert resp.usage.completion_tokens == 8


async def test_stream_token_by_token(local: LlamaCppProvider) -> None:
    events = [e async for e in local.stream(request(max_tokens=6), MODEL)]
    assert isinstance(events[0], Start)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert 1 <= len(deltas) <= 6
    assert isinstance(events[-2], Finish)
    assert isinstance(events[-1], UsageEvent)
    assert events[-1].usage.completion_tokens >= len(deltas)


async def test_concurrent_requests_wait_their_turn(local: LlamaCppProvider) -> None:
    results = await asyncio.gather(
        *(local.complete(request(max_tokens=4), MODEL) for _ in range(3))
    )
    assert all(r.content for r in results)


async def test_closing_the_stream_stops_generation_and_frees_the_model(
    local: LlamaCppProvider,
) -> None:
    stream = local.stream(request("Count from one to one hundred.", max_tokens=200), MODEL)
    got = [await anext(stream), await anext(stream)]
    assert isinstance(got[0], Start)
    await stream.aclose()  # what a client disconnect does
    assert not local._turn.locked()
    # The model is free and answers the next request at once.
    resp = await asyncio.wait_for(local.complete(request(max_tokens=2), MODEL), 30)
    assert resp.usage.completion_tokens <= 2


async def test_tools_are_ignored_unless_required(local: LlamaCppProvider) -> None:
    tool = Tool(name="get_weather", description=None, parameters={"type": "object"})
    resp = await local.complete(request(max_tokens=4, tools=[tool]), MODEL)
    assert resp.tool_calls == [] and resp.content
    with pytest.raises(UpstreamRejected, match="cannot call tools") as caught:
        await local.complete(request(tools=[tool], tool_choice=ToolChoice(mode="required")), MODEL)
    assert caught.value.status == 400


async def test_prompt_longer_than_the_context_is_a_400(local: LlamaCppProvider) -> None:
    with pytest.raises(UpstreamRejected, match="too long") as caught:
        await local.complete(request("word " * 2000), MODEL)
    assert caught.value.status == 400


async def test_unloadable_model_is_an_upstream_error(tmp_path: object) -> None:
    broken = LlamaCppProvider(
        ProviderConfig(id="broken", type="llamacpp", model_path="/nonexistent/model.gguf")
    )
    with pytest.raises(UpstreamError, match="failed to load"):
        await broken.complete(request(), MODEL)
    await broken.close()


def test_tool_history_becomes_plain_text() -> None:
    req = ChatRequest(
        model=LOCAL,
        messages=[
            Message(role="user", content=[TextPart("Weather?")]),
            Message(
                role="assistant", tool_calls=[ToolCall(id="c1", name="get_weather", arguments="{}")]
            ),
            Message(role="tool", content=[TextPart("18C")], tool_call_id="c1"),
        ],
    )
    assert llama_messages(req) == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "\n[called get_weather with {}]"},
        {"role": "user", "content": "Result of tool call: 18C"},
    ]


async def test_local_model_through_the_api(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    body = {"model": LOCAL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["completion_tokens"] >= 1
    row = await only_usage(gw_portal)
    assert (row.provider, row.prompt_tokens, row.completion_tokens) == (
        "local",
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    r = await chat.post("/v1/messages", json={**body, "stream": True})
    assert r.status_code == 200
    kinds = [e["type"] for e in sse_data(r.text)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


async def test_loads_at_once_leave_the_process_output_where_it_was() -> None:
    """llama_cpp points stdout/stderr at /dev/null while it loads; overlapping loads must not
    leave them there (that silenced whole test runs and would silence a server's logs)."""
    before = [(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)]
    configs = [ProviderConfig(id=f"local{i}", type="llamacpp") for i in range(4)]
    providers = [LlamaCppProvider(cfg) for cfg in configs]
    try:
        await asyncio.gather(*(p.warm_up() for p in providers))
    finally:
        await asyncio.gather(*(p.close() for p in providers))
    assert [(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)] == before


LONG = "Count from one to one hundred, one number per line."


async def kill_once_generating(provider: LlamaCppProvider, sig: int = signal.SIGSEGV) -> int:
    """Send `sig` to the model's worker once it has been handed a generation; its pid."""
    before = provider._seq
    for _ in range(400):
        if provider._seq > before and provider.worker_pid:
            await asyncio.sleep(0.05)  # well into the generation, or still reading it: both count
            pid = provider.worker_pid
            os.kill(pid, sig)
            return pid
        await asyncio.sleep(0.01)
    raise AssertionError("the model never started generating")


async def test_a_segfault_in_the_model_is_an_upstream_error_and_the_next_request_works(
    local: LlamaCppProvider,
) -> None:
    await local.warm_up()
    task = asyncio.create_task(local.complete(request(LONG, max_tokens=200), MODEL))
    pid = await kill_once_generating(local)
    with pytest.raises(WorkerCrashed, match="crashed \\(killed by SIGSEGV\\)") as caught:
        await task
    assert caught.value.status == 502
    assert not local._turn.locked()
    # A new worker answers the next request; this process was never touched.
    resp = await asyncio.wait_for(local.complete(request(max_tokens=4), MODEL), 60)
    assert resp.content and resp.usage.completion_tokens >= 1
    assert local.worker_pid not in (None, pid)


async def test_a_crash_mid_stream_ends_the_stream_with_an_error(local: LlamaCppProvider) -> None:
    stream = local.stream(request(LONG, max_tokens=200), MODEL)
    assert isinstance(await anext(stream), Start)
    assert isinstance(await anext(stream), TextDelta)
    assert local.worker_pid is not None
    os.kill(local.worker_pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        while True:
            await anext(stream)
    await stream.aclose()
    resp = await asyncio.wait_for(local.complete(request(max_tokens=2), MODEL), 60)
    assert resp.usage.completion_tokens <= 2


async def test_a_worker_that_died_idle_is_replaced_before_the_next_request(
    local: LlamaCppProvider,
) -> None:
    await local.warm_up()
    pid = local.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGSEGV)
    await asyncio.sleep(0.2)
    resp = await asyncio.wait_for(local.complete(request(max_tokens=3), MODEL), 60)
    assert resp.content
    assert local.worker_pid not in (None, pid)


async def test_a_model_crash_through_the_api_is_a_502_with_a_usage_row(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    local = gw_portal.services["gateway"].registry.providers["local"]
    body = {"model": LOCAL, "messages": [{"role": "user", "content": LONG}], "max_tokens": 200}
    post = asyncio.create_task(chat.post("/api/chat/completions", json=body))
    await kill_once_generating(local)
    r = await post
    assert r.status_code == 502, r.text
    assert "The local model crashed (killed by SIGSEGV)" in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.provider, row.status, row.http_status) == ("local", "error", 502)
    # The portal serves on; the model with it.
    r = await chat.post("/api/chat/completions", json={**body, "max_tokens": 4})
    assert r.status_code == 200, r.text

"""What the official SDKs make of the rendered answers (served by an in-process transport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anthropic as anthropic_sdk
import httpx
import httpx2
import openai as openai_sdk
import pytest

from llmportal.gateway.formats import anthropic, openai
from llmportal.gateway.types import ChatResponse, StreamEvent, ToolCall, Usage
from tests.gateway.test_format_examples import ATHENS_ARGS, LONDON_ARGS, MODEL
from tests.gateway.test_format_openai_stream import OPENAI_PARALLEL_CHUNKS, feed_all

BASE = "http://127.0.0.1:9"
RESPONSE = ChatResponse(
    id="chatcmpl-abc123",
    model=MODEL,
    created=1700000000,
    content="I'll check the weather for both cities.",
    tool_calls=[
        ToolCall("functions.get_weather:0", "get_weather", ATHENS_ARGS),
        ToolCall("functions.get_weather:1", "get_weather", LONDON_ARGS),
    ],
    finish_reason="tool_calls",
    usage=Usage(885, 33),
)


def stream_bytes(render: Any, events: Iterable[StreamEvent], tail: bytes = b"") -> bytes:
    async def source() -> AsyncIterator[StreamEvent]:
        for event in events:
            yield event

    async def collect() -> bytes:
        return b"".join([b async for b in render(source())]) + tail

    return asyncio.new_event_loop().run_until_complete(collect())


def serving(body: bytes | dict[str, Any], lib: Any = httpx) -> Any:
    """A client of `lib` (httpx, or httpx2 for the anthropic SDK) that answers `body`."""

    def handler(request: Any) -> Any:
        if isinstance(body, dict):
            return lib.Response(200, json=body)
        return lib.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return lib.Client(transport=lib.MockTransport(handler))


def openai_client(body: bytes | dict[str, Any]) -> openai_sdk.OpenAI:
    return openai_sdk.OpenAI(
        api_key="sk-test", base_url=BASE, http_client=serving(body), max_retries=0
    )


def anthropic_client(body: bytes | dict[str, Any]) -> anthropic_sdk.Anthropic:
    return anthropic_sdk.Anthropic(
        api_key="sk-test", base_url=BASE, http_client=serving(body, httpx2), max_retries=0
    )


ASK: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Weather?"}]}


def test_openai_sdk_reads_the_response() -> None:
    completion = openai_client(openai.render_response(RESPONSE)).chat.completions.create(**ASK)
    message = completion.choices[0].message
    assert [(c.id, c.function.arguments) for c in message.tool_calls or []] == [
        ("functions.get_weather:0", ATHENS_ARGS),
        ("functions.get_weather:1", LONDON_ARGS),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 918


def test_openai_sdk_accumulates_the_streamed_tool_calls() -> None:
    raw = stream_bytes(openai.render_stream, feed_all(OPENAI_PARALLEL_CHUNKS))
    client = openai_client(raw)
    with client.chat.completions.stream(**ASK) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "I'll check the weather for both cities."
    assert [(c.id, c.function.arguments) for c in message.tool_calls or []] == [
        ("functions.get_weather:0", ATHENS_ARGS),
        ("functions.get_weather:1", LONDON_ARGS),
    ]
    assert final.usage is not None and final.usage.completion_tokens == 33


def test_openai_sdk_raises_on_the_error_tail() -> None:
    raw = stream_bytes(openai.render_stream, [], b"")
    head = raw[: raw.index(b"data: [DONE]")]
    chunks = openai_client(
        head + openai.render_stream_error("Upstream failed")
    ).chat.completions.create(**ASK, stream=True)
    with pytest.raises(openai_sdk.APIError, match="Upstream failed"):
        list(chunks)


def test_anthropic_sdk_reads_the_response() -> None:
    message = anthropic_client(anthropic.render_response(RESPONSE)).messages.create(
        max_tokens=100, **ASK
    )
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("text", None),
        ("tool_use", {"location": "Athens, Greece"}),
        ("tool_use", {"location": "London, United Kingdom"}),
    ]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (885, 33)


def test_anthropic_sdk_accumulates_the_streamed_tool_calls() -> None:
    raw = stream_bytes(anthropic.render_stream, feed_all(OPENAI_PARALLEL_CHUNKS))
    with anthropic_client(raw).messages.stream(max_tokens=100, **ASK) as stream:
        final = stream.get_final_message()
    blocks = [
        (b.type, getattr(b, "text", None), getattr(b, "input", None), getattr(b, "id", None))
        for b in final.content
    ]
    assert blocks == [
        ("text", "I'll check the weather for both cities.", None, None),
        ("tool_use", None, json.loads(ATHENS_ARGS), "functions.get_weather:0"),
        ("tool_use", None, json.loads(LONDON_ARGS), "functions.get_weather:1"),
    ]
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 33


def test_anthropic_sdk_raises_on_the_error_tail() -> None:
    raw = stream_bytes(anthropic.render_stream, [])
    head = raw[: raw.index(b"event: message_delta")]
    events = anthropic_client(
        head + anthropic.render_stream_error("Upstream failed")
    ).messages.create(max_tokens=100, stream=True, **ASK)
    with pytest.raises(anthropic_sdk.APIStatusError, match="Upstream failed"):
        list(events)

"""OpenAI streaming: internal events -> chat.completion.chunk SSE, and upstream chunks -> events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from llmportal.gateway.formats import openai
from llmportal.gateway.types import (
    Finish,
    Start,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from tests.gateway.test_format_examples import ATHENS_ARGS, LONDON_ARGS, MODEL


async def events_of(items: Iterable[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


async def render(items: Iterable[StreamEvent], **kw: Any) -> bytes:
    return b"".join([b async for b in openai.render_stream(events_of(items), **kw)])


def payloads(raw: bytes) -> list[Any]:
    """The `data:` payloads of an SSE byte stream, JSON-decoded ("[DONE]" stays a string)."""
    assert raw.endswith(b"\n\n")
    out = []
    for frame in raw.decode().split("\n\n")[:-1]:
        assert frame.startswith("data: "), frame
        data = frame[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


START = Start(id="chatcmpl-abc123", model=MODEL, created=1700000000)
PARALLEL_EVENTS: list[StreamEvent] = [
    START,
    TextDelta("I'll check the weather for both cities."),
    ToolCallStart(0, "functions.get_weather:0", "get_weather"),
    ToolCallDelta(0, '{"location": '),
    ToolCallDelta(0, '"Athens, Greece"}'),
    ToolCallStart(1, "functions.get_weather:1", "get_weather"),
    ToolCallDelta(1, LONDON_ARGS),
    Finish("tool_calls"),
    UsageEvent(Usage(885, 33)),
]


async def test_text_stream_matches_the_reference_shape() -> None:
    raw = await render([START, TextDelta("Quantum"), TextDelta(" computing"), Finish("stop")])
    chunks = payloads(raw)
    assert chunks[-1] == "[DONE]"
    head = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
    }
    for chunk in chunks[:-1]:
        assert {k: chunk[k] for k in head} == head
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Quantum"},
        {"content": " computing"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, None, "stop"]
    assert all(c["choices"][0]["index"] == 0 for c in chunks[:-1])


async def test_parallel_tool_call_deltas_carry_index_id_type_and_name_then_fragments() -> None:
    chunks = payloads(await render(PARALLEL_EVENTS))
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c != "[DONE]" and c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls == [
        {
            "index": 0,
            "id": "functions.get_weather:0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"location": '}},
        {"index": 0, "function": {"arguments": '"Athens, Greece"}'}},
        {
            "index": 1,
            "id": "functions.get_weather:1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {"index": 1, "function": {"arguments": LONDON_ARGS}},
    ]
    finish, usage, done = chunks[-3:]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 885,
        "completion_tokens": 33,
        "total_tokens": 918,
    }
    assert done == "[DONE]"


async def test_usage_before_finish_is_sent_after_it_and_can_be_left_out() -> None:
    events = [START, TextDelta("hi"), UsageEvent(Usage(3, 1)), Finish("length")]
    chunks = payloads(await render(events))
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert chunks[-2]["usage"]["total_tokens"] == 4
    quiet = payloads(await render(events, include_usage=False))
    assert all(c == "[DONE]" or c["choices"] for c in quiet)
    assert openai.wants_stream_usage({"stream_options": {"include_usage": True}})
    assert not openai.wants_stream_usage({"stream": True})


async def test_a_stream_without_start_or_finish_still_opens_and_closes() -> None:
    chunks = payloads(await render([TextDelta("x")]))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == "[DONE]"


async def test_an_error_in_the_events_propagates_without_done() -> None:
    async def failing() -> AsyncIterator[StreamEvent]:
        yield START
        yield TextDelta("par")
        raise RuntimeError("upstream died")

    out: list[bytes] = []
    with pytest.raises(RuntimeError):
        async for piece in openai.render_stream(failing()):
            out.append(piece)
    assert b"[DONE]" not in b"".join(out)
    assert payloads(openai.render_stream_error("upstream died")) == [
        {"error": {"message": "upstream died"}},
        "[DONE]",
    ]


def upstream_chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **kw: Any
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1700000001,
        "model": "some-model",
    }
    chunk["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    )
    chunk.update(kw)
    return chunk


def feed_all(
    chunks: list[dict[str, Any]], parser: openai.StreamParser | None = None
) -> list[StreamEvent]:
    parser = parser or openai.StreamParser()
    out = [e for c in chunks for e in parser.feed(c)]
    return out + list(parser.close())


OPENAI_PARALLEL_CHUNKS = [
    upstream_chunk({"role": "assistant", "content": ""}),
    upstream_chunk({"content": "I'll check the weather for both cities."}),
    upstream_chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "functions.get_weather:0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    upstream_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}),
    upstream_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Athens, Greece"}'}}]}),
    upstream_chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "functions.get_weather:1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": LONDON_ARGS},
                }
            ]
        }
    ),
    upstream_chunk({}, "tool_calls"),
    upstream_chunk(usage={"prompt_tokens": 885, "completion_tokens": 33, "total_tokens": 918}),
]


def test_parser_turns_upstream_chunks_into_events() -> None:
    assert feed_all(OPENAI_PARALLEL_CHUNKS) == [
        Start("chatcmpl-up", "some-model", 1700000001),
        TextDelta("I'll check the weather for both cities."),
        ToolCallStart(0, "functions.get_weather:0", "get_weather"),
        ToolCallDelta(0, '{"location": '),
        ToolCallDelta(0, '"Athens, Greece"}'),
        ToolCallStart(1, "functions.get_weather:1", "get_weather"),
        ToolCallDelta(1, LONDON_ARGS),
        Finish("tool_calls"),
        UsageEvent(Usage(885, 33)),
    ]


async def test_parser_and_renderer_round_trip_the_same_chunks() -> None:
    events = feed_all(OPENAI_PARALLEL_CHUNKS)
    again = feed_all([c for c in payloads(await render(events)) if c != "[DONE]"])
    assert again == events


def test_parser_gives_ids_to_calls_without_and_splits_a_reused_index() -> None:
    events = feed_all(
        [
            upstream_chunk(
                {
                    "tool_calls": [
                        {"index": 0, "function": {"name": "get_weather", "arguments": ATHENS_ARGS}}
                    ]
                }
            ),
            upstream_chunk(
                {"tool_calls": [{"index": 1, "id": "call_a", "function": {"name": "a"}}]}
            ),
            upstream_chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "function": {"name": "b", "arguments": {"k": 1}},
                        }
                    ]
                }
            ),
            upstream_chunk({}, "stop"),
        ]
    )
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert starts == [
        ToolCallStart(0, "functions.get_weather:0", "get_weather"),
        ToolCallStart(1, "call_a", "a"),
        ToolCallStart(2, "call_b", "b"),
    ]
    assert ToolCallDelta(2, '{"k":1}') in events
    assert events[-1] == Finish("tool_calls")


def test_parser_holds_arguments_until_the_name_arrives() -> None:
    events = feed_all(
        [
            upstream_chunk(
                {"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": '{"a"'}}]}
            ),
            upstream_chunk(
                {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ": 1}"}}]}
            ),
            upstream_chunk({}, "tool_calls"),
        ]
    )
    assert events[1:] == [
        ToolCallStart(0, "c1", "f"),
        ToolCallDelta(0, '{"a"'),
        ToolCallDelta(0, ": 1}"),
        Finish("tool_calls"),
    ]


def test_parser_usage_in_the_finish_chunk_and_close_for_a_missing_finish() -> None:
    events = feed_all(
        [
            upstream_chunk(
                {"content": "hi"}, "length", usage={"prompt_tokens": 2, "completion_tokens": 1}
            )
        ]
    )
    assert events[-2:] == [Finish("length"), UsageEvent(Usage(2, 1))]
    cut = feed_all([upstream_chunk({"content": "hi"})])
    assert cut[-1] == Finish("stop")


def test_parser_raises_on_an_error_chunk() -> None:
    parser = openai.StreamParser()
    with pytest.raises(openai.UpstreamFormatError, match="rate limited"):
        list(parser.feed({"error": {"message": "rate limited"}}))
    with pytest.raises(ValueError):
        list(openai.StreamParser().feed("nope"))

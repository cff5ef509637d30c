"""Anthropic streaming: internal events -> the Anthropic SSE sequence, upstream events -> ours,
and a tool-call stream carried OpenAI -> Anthropic -> OpenAI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from llmportal.gateway.formats import anthropic, openai
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
from tests.gateway.test_format_openai_stream import OPENAI_PARALLEL_CHUNKS, feed_all, payloads


async def events_of(items: Iterable[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


async def render(items: Iterable[StreamEvent], **kw: Any) -> bytes:
    return b"".join([b async for b in anthropic.render_stream(events_of(items), **kw)])


def sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) pairs; each payload's "type" must equal its event name."""
    out = []
    for frame in raw.decode().split("\n\n")[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), frame
        name, data = event_line[7:], json.loads(data_line[6:])
        assert data["type"] == name
        out.append((name, data))
    return out


START = Start(id="chatcmpl-abc123", model=MODEL, created=1700000000)


async def test_text_stream_is_the_exact_anthropic_sequence() -> None:
    raw = await render(
        [
            START,
            TextDelta("Quantum"),
            TextDelta(" computing"),
            Finish("stop"),
            UsageEvent(Usage(25, 150)),
        ],
        input_tokens=25,
    )
    assert sse(raw) == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_abc123",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 0},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Quantum"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": " computing"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 150, "input_tokens": 25},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


async def test_openai_tool_call_chunks_become_anthropic_blocks_with_json_deltas() -> None:
    events = feed_all(OPENAI_PARALLEL_CHUNKS)
    frames = sse(await render(events))
    names = [name for name, _ in frames]
    assert names == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    starts = [d for n, d in frames if n == "content_block_start"]
    assert [(s["index"], s["content_block"]) for s in starts] == [
        (0, {"type": "text", "text": ""}),
        (
            1,
            {
                "type": "tool_use",
                "id": "functions.get_weather:0",
                "name": "get_weather",
                "input": {},
            },
        ),
        (
            2,
            {
                "type": "tool_use",
                "id": "functions.get_weather:1",
                "name": "get_weather",
                "input": {},
            },
        ),
    ]
    json_deltas = [
        (d["index"], d["delta"])
        for n, d in frames
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert json_deltas == [
        (1, {"type": "input_json_delta", "partial_json": '{"location": '}),
        (1, {"type": "input_json_delta", "partial_json": '"Athens, Greece"}'}),
        (2, {"type": "input_json_delta", "partial_json": LONDON_ARGS}),
    ]
    assert [d["index"] for n, d in frames if n == "content_block_stop"] == [0, 1, 2]
    delta = frames[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == 33
    # ... and back: the Anthropic stream parses to the same events, then renders as OpenAI.
    parser = anthropic.StreamParser()
    again = [e for _, d in frames for e in parser.feed(d)] + list(parser.close())
    assert again[1:] == events[1:]
    assert isinstance(again[0], Start) and again[0].id == "msg_up"  # from "chatcmpl-up"
    rendered = payloads(b"".join([b async for b in openai.render_stream(events_of(again))]))
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in rendered
        if c != "[DONE]" and c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [(c["index"], c.get("id")) for c in calls] == [
        (0, "functions.get_weather:0"),
        (0, None),
        (0, None),
        (1, "functions.get_weather:1"),
        (1, None),
    ]
    assert "".join(c["function"]["arguments"] for c in calls if c["index"] == 0) == ATHENS_ARGS


async def test_finish_waits_for_usage_and_the_end_closes_without_it() -> None:
    frames = sse(
        await render(
            [
                START,
                ToolCallStart(0, "call_1", "f"),
                Finish("tool_calls"),
                TextDelta("late"),
                UsageEvent(Usage(5, 7)),
            ]
        )
    )
    assert [n for n, _ in frames][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert frames[-2][1]["usage"] == {"output_tokens": 7, "input_tokens": 5}
    no_usage = sse(await render([START, TextDelta("x"), Finish("length")]))
    assert no_usage[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }
    empty = sse(await render([]))
    assert [n for n, _ in empty] == ["message_start", "message_delta", "message_stop"]
    assert empty[0][1]["message"]["id"].startswith("msg_")


async def test_text_after_a_tool_call_opens_a_new_text_block() -> None:
    frames = sse(
        await render(
            [
                START,
                ToolCallStart(0, "c", "f"),
                ToolCallDelta(0, "{}"),
                TextDelta("done"),
                Finish("stop"),
            ]
        )
    )
    starts = [
        (d["index"], d["content_block"]["type"]) for n, d in frames if n == "content_block_start"
    ]
    assert starts == [(0, "tool_use"), (1, "text")]


async def test_an_error_in_the_events_propagates_and_the_error_tail_ends_the_stream() -> None:
    async def failing() -> AsyncIterator[StreamEvent]:
        yield START
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        async for _ in anthropic.render_stream(failing()):
            pass
    tail = anthropic.render_stream_error("Upstream timed out").decode()
    error_frame, contract_frame, done, end = tail.split("\n\n")
    assert (
        error_frame
        == "event: error\ndata: "
        + '{"type":"error","error":{"type":"api_error","message":"Upstream timed out"}}'
    )
    assert contract_frame == 'data: {"error":{"message":"Upstream timed out"}}'
    assert (done, end) == ("data: [DONE]", "")


UPSTREAM_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_up",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 885, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "I'll check."},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"location": "Athens, Greece"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"location": '},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '"London, United Kingdom"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 33},
    },
    {"type": "message_stop"},
]


def test_parser_turns_upstream_anthropic_events_into_ours() -> None:
    parser = anthropic.StreamParser()
    events = [e for chunk in UPSTREAM_EVENTS for e in parser.feed(chunk)]
    assert events[1:] == [
        TextDelta("I'll check."),
        ToolCallStart(0, "toolu_a", "get_weather"),
        ToolCallDelta(0, ATHENS_ARGS),
        ToolCallStart(1, "toolu_b", "get_weather"),
        ToolCallDelta(1, '{"location": '),
        ToolCallDelta(1, '"London, United Kingdom"}'),
        Finish("tool_calls"),
        UsageEvent(Usage(885, 33)),
    ]
    start = events[0]
    assert isinstance(start, Start) and (start.id, start.model) == ("msg_up", "claude-x")
    assert list(parser.close()) == []


@pytest.mark.parametrize(
    ("stop_reason", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_parser_maps_stop_reasons(stop_reason: str, reason: str) -> None:
    parser = anthropic.StreamParser()
    list(parser.feed(UPSTREAM_EVENTS[0]))
    events = list(
        parser.feed(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason},
                "usage": {"output_tokens": 2},
            }
        )
    )
    assert events == [Finish(reason), UsageEvent(Usage(885, 2))]


def test_parser_raises_on_an_error_event_and_closes_a_cut_stream() -> None:
    parser = anthropic.StreamParser()
    list(parser.feed(UPSTREAM_EVENTS[0]))
    with pytest.raises(anthropic.UpstreamFormatError, match="Overloaded"):
        list(
            parser.feed(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            )
        )
    cut = anthropic.StreamParser()
    list(cut.feed(UPSTREAM_EVENTS[0]))
    assert list(cut.feed({"type": "message_stop"})) == [Finish("stop"), UsageEvent(Usage(885, 1))]
    assert issubclass(anthropic.UpstreamFormatError, ValueError)

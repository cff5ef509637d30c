"""The Responses format: its input items to the internal model, and the internal answer and
stream events to Response objects and typed SSE events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmportal.gateway.formats import responses
from llmportal.gateway.types import (
    ChatResponse,
    Finish,
    FormatError,
    ImagePart,
    Start,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from llmportal.jsonio import loads

TOOL = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}


def test_instructions_and_text_input() -> None:
    req = responses.parse_request({"model": "m", "input": "Hi", "instructions": "Be brief."})
    assert [(m.role, m.text) for m in req.messages] == [("system", "Be brief."), ("user", "Hi")]


def test_items_become_one_conversation() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "developer", "content": "Rules."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Q"}]},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "two"}],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ],
        "tools": [TOOL],
    }
    req = responses.parse_request(body)
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool", "tool"]
    assistant = req.messages[2]
    assert assistant.text == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("c1", "f", '{"a":1}'),
        ("c2", "f", "{}"),
    ]
    assert [(m.tool_call_id, m.text) for m in req.messages[3:]] == [("c1", "one"), ("c2", "two")]
    assert [t.name for t in req.tools] == ["f"]


def test_an_image_input() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}
    req = responses.parse_request({"model": "m", "input": [{"role": "user", "content": [image]}]})
    (part,) = req.messages[0].content
    assert isinstance(part, ImagePart)
    assert (part.media_type, part.detail) == ("image/png", "low")


def test_options_map_to_the_chat_ones() -> None:
    req = responses.parse_request(
        {
            "model": "m",
            "input": "x",
            "max_output_tokens": 50,
            "temperature": 0.5,
            "tools": [TOOL],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"},
            "stream": True,
        }
    )
    assert (req.max_tokens, req.temperature, req.stream) == (50, 0.5, True)
    assert req.tool_choice is not None and (req.tool_choice.mode, req.tool_choice.name) == (
        "tool",
        "f",
    )
    assert req.parallel_tool_calls is False
    assert req.extra == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": {"type": "object"}},
        },
        "reasoning_effort": "low",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        (
            {"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]},
            "input[0].output",
        ),
        (
            {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "no"}]},
            "tools[0].parameters",
        ),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": [{"role": "system", "content": "only rules"}]}, "input"),
        ({"input": "x", "temperature": 3}, "temperature"),
    ],
)
def test_bad_bodies_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(FormatError) as caught:
        responses.parse_request({"model": "m", **body})
    assert str(caught.value).startswith(field)


def test_render_a_reply_with_text_and_calls() -> None:
    body = {"model": "m", "input": "x", "tools": [TOOL], "metadata": {"k": "v"}}
    resp = ChatResponse(
        id="chatcmpl-abc",
        model="m",
        created=1,
        content="Looking.",
        tool_calls=[ToolCall("call_1", "f", "{}"), ToolCall("call_2", "f", '{"a":2}')],
        finish_reason="tool_calls",
        usage=Usage(10, 5),
    )
    out = responses.render_response(resp, responses.echo(body))
    assert out["id"] == "resp_abc" and out["status"] == "completed"
    assert [i["type"] for i in out["output"]] == ["message", "function_call", "function_call"]
    assert [i.get("call_id") for i in out["output"][1:]] == ["call_1", "call_2"]
    assert out["usage"]["total_tokens"] == 15 and out["usage"]["input_tokens"] == 10
    assert out["metadata"] == {"k": "v"} and out["tools"][0]["name"] == "f"


def test_a_reply_cut_at_max_tokens_is_incomplete() -> None:
    resp = ChatResponse(id="x", model="m", created=1, content="Once", finish_reason="length")
    out = responses.render_response(resp, responses.echo({"input": "x"}))
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["usage"] is None  # nothing reported: better no usage than a wrong one


async def _events(*items: StreamEvent) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


def _parse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        event, data = block.split("\n")
        out.append((event.removeprefix("event: "), loads(data.removeprefix("data: "))))
    return out


async def test_stream_of_text_then_two_calls() -> None:
    rendered, _ = responses.render_stream(
        _events(
            Start("chatcmpl-1", "m", 1),
            TextDelta("Hi"),
            TextDelta(" there"),
            ToolCallStart(0, "c1", "f"),
            ToolCallDelta(0, '{"a"'),
            ToolCallDelta(0, ":1}"),
            ToolCallStart(1, "c2", "f"),
            ToolCallDelta(1, "{}"),
            Finish("tool_calls"),
            UsageEvent(Usage(3, 4)),
        ),
        responses.echo({"input": "x"}),
    )
    events = _parse(b"".join([chunk async for chunk in rendered]))
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1][1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Hi there"
    assert [i["arguments"] for i in final["output"][1:]] == ['{"a":1}', "{}"]
    assert final["usage"]["output_tokens"] == 4 and final["status"] == "completed"
    assert all(e["item_id"] == final["output"][1]["id"] for n, e in events[10:12])


async def test_an_empty_stream_still_completes_with_one_message() -> None:
    rendered, _ = responses.render_stream(_events(), responses.echo({"input": "x"}))
    events = _parse(b"".join([chunk async for chunk in rendered]))
    assert events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["output"][0]["content"][0]["text"] == ""


async def test_a_failure_is_an_error_event_then_done() -> None:
    async def failing() -> AsyncIterator[StreamEvent]:
        yield Start("x", "m", 1)
        yield TextDelta("Hi")
        raise RuntimeError("cut")

    rendered, renderer = responses.render_stream(failing(), responses.echo({"input": "x"}))
    seen = b""
    with pytest.raises(RuntimeError):
        async for chunk in rendered:
            seen += chunk
    tail = renderer.error("Upstream went away")
    assert tail.endswith(b"data: [DONE]\n\n")
    name, data = _parse(tail.removesuffix(b"data: [DONE]\n\n"))[0]
    assert name == "error" and data["error"]["message"] == "Upstream went away"
    assert data["sequence_number"] == len(_parse(seen))

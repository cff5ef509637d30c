"""Anthropic Messages <-> the internal model, non-streaming, and across to OpenAI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmportal.gateway.formats import anthropic, openai
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    FormatError,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolChoice,
    Usage,
)
from tests.gateway.test_format_examples import (
    ANTHROPIC_TOOL,
    ANTHROPIC_TOOL_RESULT_REQUEST,
    ATHENS_ARGS,
    LONDON_ARGS,
    MODEL,
    PARALLEL_MESSAGE,
    TOOL_RESULT_REQUEST,
    WEATHER_RESULT,
    WEATHER_TOOL,
    fresh,
)

B64 = "iVBORw0KGgo="


def body(**kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello"}],
        **kw,
    }


def test_tool_result_conversation_parses_to_the_same_model_as_openai() -> None:
    req = anthropic.parse_request(fresh(ANTHROPIC_TOOL_RESULT_REQUEST))
    assert req.max_tokens == 1024
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[0].text == "You are a helpful assistant."
    (call,) = req.messages[2].tool_calls
    assert (call.id, call.name) == ("functions.get_weather:0", "get_weather")
    assert json.loads(call.arguments) == json.loads(ATHENS_ARGS)  # Anthropic's input, re-serialised
    assert (
        req.messages[3].tool_call_id == "functions.get_weather:0"
        and req.messages[3].text == WEATHER_RESULT
    )
    assert req.tool_choice == ToolChoice("auto")
    same = openai.parse_request(fresh(TOOL_RESULT_REQUEST))
    assert req.messages[2].text == same.messages[1].text
    assert [req.messages[1], req.messages[3]] == [same.messages[0], same.messages[2]]
    assert req.tools == same.tools


def test_several_tool_results_and_text_become_tool_messages_then_user() -> None:
    req = anthropic.parse_request(
        body(
            messages=[
                {"role": "user", "content": "Weather in Athens and London?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"location": "Athens, Greece"},
                        },
                        {
                            "type": "tool_use",
                            "id": "toolu_2",
                            "name": "get_weather",
                            "input": {"location": "London, United Kingdom"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "18C"}],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": "timeout",
                            "is_error": True,
                        },
                        {"type": "text", "text": "Which is warmer?"},
                    ],
                },
            ]
        )
    )
    tail = req.messages[2:]
    assert [(m.role, m.tool_call_id, m.text, m.is_error) for m in tail] == [
        ("tool", "toolu_1", "18C", False),
        ("tool", "toolu_2", "timeout", True),
        ("user", None, "Which is warmer?", False),
    ]
    # ... and back: one user message, tool_result blocks first.
    up = anthropic.build_request(req, "claude-x")
    assert up["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": "timeout",
                "is_error": True,
            },
            {"type": "text", "text": "Which is warmer?"},
        ],
    }


def test_system_blocks_images_and_params() -> None:
    req = anthropic.parse_request(
        body(
            system=[{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": B64},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                        {"type": "text", "text": "Describe"},
                    ],
                }
            ],
            stop_sequences=["END"],
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            metadata={"user_id": "u-9"},
            stream=True,
        )
    )
    assert req.messages[0].text == "One.Two."
    assert req.messages[1].content == [
        ImagePart(url=f"data:image/png;base64,{B64}", media_type="image/png"),
        ImagePart(url="https://x.test/a.jpg"),
        TextPart("Describe"),
    ]
    assert (req.stop, req.temperature, req.top_p, req.extra, req.user, req.stream) == (
        ["END"],
        0.5,
        0.9,
        {"top_k": 40},
        "u-9",
        True,
    )


@pytest.mark.parametrize(
    ("choice", "internal", "openai_form"),
    [
        ({"type": "auto"}, ToolChoice("auto"), "auto"),
        ({"type": "none"}, ToolChoice("none"), "none"),
        ({"type": "any"}, ToolChoice("required"), "required"),
        (
            {"type": "tool", "name": "get_weather"},
            ToolChoice("tool", "get_weather"),
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_every_tool_choice_maps_both_ways_and_to_openai(
    choice: dict[str, Any], internal: ToolChoice, openai_form: Any
) -> None:
    req = anthropic.parse_request(body(tools=[ANTHROPIC_TOOL], tool_choice=choice))
    assert req.tool_choice == internal
    assert anthropic.build_request(req, "m")["tool_choice"] == choice
    assert openai.build_request(req, "m")["tool_choice"] == openai_form
    from_openai = openai.parse_request(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": openai_form,
        }
    )
    assert anthropic.build_request(from_openai, "m")["tool_choice"] == choice


def test_disable_parallel_tool_use_is_parallel_tool_calls_false() -> None:
    req = anthropic.parse_request(
        body(tools=[ANTHROPIC_TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True})
    )
    assert req.parallel_tool_calls is False
    assert openai.build_request(req, "m")["parallel_tool_calls"] is False
    no_choice = ChatRequest(
        model="m", messages=req.messages, tools=req.tools, parallel_tool_calls=False
    )
    assert anthropic.build_request(no_choice, "m")["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"max_tokens": None}, "max_tokens is required"),
        ({"max_tokens": 0}, "max_tokens: must be a positive integer"),
        ({"model": None}, "model is required"),
        ({"messages": None}, "messages is required"),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            "messages[0].role: must be one of user, assistant",
        ),
        ({"messages": [{"role": "user"}]}, "messages[0].content is required"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "messages[0].content[0].type: must be one of text, image, tool_result",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages[0].content[0].tool_use_id is required",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}],
                    }
                ]
            },
            "messages[0].content[0].input: must be an object",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "name": "f", "input": {}}],
                    }
                ]
            },
            "messages[0].content[0].id is required",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            },
            "messages[0].content[0].source.type: must be one of base64, url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "text/plain",
                                    "data": "x",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].source.media_type: must be an image type",
        ),
        ({"system": [{"type": "image"}]}, "system[0].type: must be 'text'"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema is required"),
        (
            {"tools": [{"name": "f", "input_schema": []}]},
            "tools[0].input_schema: must be a JSON Schema object",
        ),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools[0].type: only custom tools",
        ),
        (
            {"tool_choice": {"type": "sometimes"}},
            "tool_choice.type: must be one of auto, any, tool, none",
        ),
        (
            {"tool_choice": {"type": "tool", "name": "nope"}},
            "tool_choice.name: no tool named 'nope'",
        ),
        ({"temperature": 1.5}, "temperature: must be a number between 0 and 1"),
        ({"stop_sequences": "END"}, "stop_sequences: must be an array"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id: must be a string"),
        ({"top_k": -1}, "top_k: must be an integer of at least 0"),
    ],
)
def test_bad_bodies_name_the_field(patch: dict[str, Any], message: str) -> None:
    data = body(**patch)
    for key, value in patch.items():
        if value is None:
            del data[key]
    with pytest.raises(FormatError) as err:
        anthropic.parse_request(data)
    assert str(err.value).startswith(message)


def test_render_response_gives_text_then_tool_use_blocks() -> None:
    resp = ChatResponse(
        id="chatcmpl-abc123",
        model=MODEL,
        created=1,
        content=PARALLEL_MESSAGE["content"],
        tool_calls=[
            ToolCall("functions.get_weather:0", "get_weather", ATHENS_ARGS),
            ToolCall("functions.get_weather:1", "get_weather", LONDON_ARGS),
        ],
        finish_reason="tool_calls",
        usage=Usage(885, 33),
    )
    assert anthropic.render_response(resp) == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "text", "text": "I'll check the weather for both cities."},
            {
                "type": "tool_use",
                "id": "functions.get_weather:0",
                "name": "get_weather",
                "input": {"location": "Athens, Greece"},
            },
            {
                "type": "tool_use",
                "id": "functions.get_weather:1",
                "name": "get_weather",
                "input": {"location": "London, United Kingdom"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 885, "output_tokens": 33},
    }


@pytest.mark.parametrize(
    ("reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ],
)
def test_finish_reasons_render_as_stop_reasons_and_back(reason: Any, stop_reason: str) -> None:
    out = anthropic.render_response(
        ChatResponse(id="msg_1", model="m", created=1, content="x", finish_reason=reason)
    )
    assert out["stop_reason"] == stop_reason and out["id"] == "msg_1"
    assert anthropic.parse_response(out).finish_reason == reason


def test_invalid_arguments_travel_as_raw_and_come_back() -> None:
    call = ToolCall("call_1", "f", '{"broken": ')
    out = anthropic.render_response(
        ChatResponse(
            id="x",
            model="m",
            created=1,
            content=None,
            tool_calls=[call],
            finish_reason="tool_calls",
        )
    )
    assert out["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"_raw": '{"broken": '}}
    ]
    assert anthropic.parse_response(out).tool_calls == [call]


def test_build_request_from_an_openai_conversation() -> None:
    req = openai.parse_request(
        fresh(TOOL_RESULT_REQUEST)
        | {
            "max_tokens": 100,
            "stop": ["x"],
            "user": "u",
            "temperature": 0.3,
            "stream": True,
            "presence_penalty": 1,
        }
    )
    req.messages.insert(0, Message(role="system", content=[TextPart("Be kind.")]))
    up = anthropic.build_request(req, "claude-x")
    assert up == {
        "model": "claude-x",
        "max_tokens": 100,
        "system": "Be kind.",
        "messages": [
            {"role": "user", "content": "What is the weather in Athens, Greece?"},
            ANTHROPIC_TOOL_RESULT_REQUEST["messages"][1],
            ANTHROPIC_TOOL_RESULT_REQUEST["messages"][2],
        ],
        "tools": [ANTHROPIC_TOOL],
        "stop_sequences": ["x"],
        "temperature": 0.3,
        "metadata": {"user_id": "u"},
        "stream": True,
    }
    assert (
        anthropic.build_request(
            openai.parse_request({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "c",
            77,
        )["max_tokens"]
        == 77
    )


def test_round_trip_anthropic_body_keeps_its_fields() -> None:
    source = fresh(ANTHROPIC_TOOL_RESULT_REQUEST) | {
        "stop_sequences": ["END"],
        "temperature": 0.1,
        "top_p": 0.8,
        "top_k": 5,
        "metadata": {"user_id": "u"},
        "stream": True,
    }
    source["messages"][0] = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": B64},
            },
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        ],
    }
    up = anthropic.build_request(anthropic.parse_request(fresh(source)), MODEL)
    assert up == source


def test_an_openai_temperature_above_one_is_clamped_for_anthropic() -> None:
    req = openai.parse_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 1.7}
    )
    assert anthropic.build_request(req, "c")["temperature"] == 1.0


def test_images_cross_from_openai_to_anthropic_blocks() -> None:
    req = openai.parse_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": f"data:image/gif;base64,{B64}"}}
                    ],
                }
            ],
        }
    )
    up = anthropic.build_request(req, "c")
    assert up["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": B64}}
    ]


def test_parse_response_reads_an_anthropic_message() -> None:
    resp = anthropic.parse_response(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "text", "text": "I'll check the weather for both cities."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"location": "Athens, Greece"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "get_weather",
                    "input": {"location": "London, United Kingdom"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 800, "cache_read_input_tokens": 85, "output_tokens": 33},
        }
    )
    assert (
        resp.id == "msg_01"
        and resp.model == "claude-x"
        and resp.content == "I'll check the weather for both cities."
    )
    assert [(c.id, c.arguments) for c in resp.tool_calls] == [
        ("toolu_a", '{"location":"Athens, Greece"}'),
        ("toolu_b", '{"location":"London, United Kingdom"}'),
    ]
    assert resp.finish_reason == "tool_calls" and resp.usage == Usage(885, 33)
    # ... and rendered for an OpenAI client, the reference's shape.
    out = openai.render_response(resp)
    assert [c["index"] for c in out["choices"][0]["message"]["tool_calls"]] == [0, 1]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"id": "msg"},
        "x",
    ],
)
def test_parse_response_rejects_error_and_malformed_bodies(bad: Any) -> None:
    with pytest.raises(anthropic.UpstreamFormatError):
        anthropic.parse_response(bad)

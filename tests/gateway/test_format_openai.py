"""OpenAI Chat Completions <-> the internal model, non-streaming."""

from __future__ import annotations

from typing import Any

import pytest

from llmportal.gateway.formats import openai
from llmportal.gateway.types import (
    ChatResponse,
    FormatError,
    ImagePart,
    TextPart,
    ToolCall,
    Usage,
)
from tests.gateway.test_format_examples import (
    ATHENS_ARGS,
    LONDON_ARGS,
    MODEL,
    PARALLEL_MESSAGE,
    TOOL_CALL_RESPONSE,
    TOOL_REQUEST,
    TOOL_RESULT_REQUEST,
    WEATHER_TOOL,
    fresh,
)

PNG = "data:image/png;base64,iVBORw0KGgo="


def body(**kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], **kw}


def test_reference_chat_request_parses_with_session_and_sampling() -> None:
    req = openai.parse_request(
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Explain quantum computing."},
            ],
            "stream": True,
            "temperature": 0.7,
            "session_id": "clx123",
        }
    )
    assert req.model == MODEL and req.stream is True and req.temperature == 0.7
    assert req.session_id == "clx123"
    assert [(m.role, m.text) for m in req.messages] == [
        ("system", "You are a helpful assistant."),
        ("user", "Explain quantum computing."),
    ]
    assert "session_id" not in openai.build_request(req, "up")


def test_content_parts_with_text_and_images() -> None:
    req = openai.parse_request(
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these?"},
                        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                    ],
                }
            ]
        )
    )
    parts = req.messages[0].content
    assert parts[0] == TextPart("What is in these?")
    assert parts[1] == ImagePart(url=PNG, media_type="image/png", detail="low")
    assert parts[2] == ImagePart(url="https://x.test/a.jpg")
    assert req.has_image


def test_developer_role_is_a_system_message_and_names_are_kept() -> None:
    req = openai.parse_request(
        body(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Hi", "name": "ann"},
            ]
        )
    )
    assert req.messages[0].role == "system"
    assert req.messages[1].name == "ann"


def test_parallel_calls_from_the_reference_keep_ids_and_order() -> None:
    req = openai.parse_request(
        body(
            messages=[
                {"role": "user", "content": "Weather in Athens and London?"},
                {k: v for k, v in PARALLEL_MESSAGE.items()},
                {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "18C"},
                {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": "12C"},
            ],
            tools=[WEATHER_TOOL],
            parallel_tool_calls=True,
        )
    )
    calls = req.messages[1].tool_calls
    assert calls == [
        ToolCall("functions.get_weather:0", "get_weather", ATHENS_ARGS),
        ToolCall("functions.get_weather:1", "get_weather", LONDON_ARGS),
    ]
    assert [m.tool_call_id for m in req.messages[2:]] == [c.id for c in calls]
    assert req.parallel_tool_calls is True


def test_assistant_call_without_id_gets_the_reference_style_id() -> None:
    req = openai.parse_request(
        body(
            messages=[
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            ]
        )
    )
    assert req.messages[1].tool_calls[0].id == "functions.f:0"
    assert req.messages[1].content == []


@pytest.mark.parametrize(
    ("choice", "mode", "name"),
    [
        ("auto", "auto", None),
        ("none", "none", None),
        ("required", "required", None),
        ({"type": "function", "function": {"name": "get_weather"}}, "tool", "get_weather"),
    ],
)
def test_every_tool_choice_form_maps_and_goes_back_unchanged(
    choice: Any, mode: str, name: str | None
) -> None:
    req = openai.parse_request(body(tools=[WEATHER_TOOL], tool_choice=choice))
    assert req.tool_choice is not None
    assert (req.tool_choice.mode, req.tool_choice.name) == (mode, name)
    assert openai.build_request(req, "up")["tool_choice"] == choice


def test_sampling_limits_and_extras() -> None:
    req = openai.parse_request(
        body(
            max_tokens=50,
            top_p=0.9,
            stop="END",
            seed=7,
            user="u-1",
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            logit_bias={"42": 10},
            response_format={"type": "json_object"},
            n=1,
            unknown_thing=True,
        )
    )
    assert (req.max_tokens, req.top_p, req.stop, req.seed, req.user) == (50, 0.9, ["END"], 7, "u-1")
    assert req.extra == {
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"42": 10},
        "response_format": {"type": "json_object"},
    }
    assert openai.parse_request(body(stop=["a", "b"])).stop == ["a", "b"]


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    req = openai.parse_request(body(max_tokens=10, max_completion_tokens=20))
    assert req.max_tokens == 20


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"model": None}, "model is required"),
        ({"model": 5}, "model: must be a string"),
        ({"messages": None}, "messages is required"),
        ({"messages": []}, "messages: must not be empty"),
        ({"messages": "hi"}, "messages: must be an array"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]},
            "messages[1].role: must be one of system, developer, user, assistant, tool",
        ),
        ({"messages": [{"role": "user"}]}, "messages[0].content is required"),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id is required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type: must be one of text, image_url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": PNG}}],
                    }
                ]
            },
            "messages[0].content[0].type: must be one of text",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url: must be an http(s) URL or a data: URL",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:text/plain;base64,aGk="},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url: must be an image",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            "tools[0].function.parameters: must be a JSON Schema object",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "string"}},
                    }
                ]
            },
            "tools[0].function.parameters: must be a JSON Schema object",
        ),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type: must be 'function'"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name is required"),
        ({"tool_choice": "sometimes"}, "tool_choice: must be"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name: no tool named 'nope'",
        ),
        ({"tool_choice": "required"}, "tool_choice: 'required' needs tools"),
        ({"n": 2}, "n: only 1 is supported"),
        ({"temperature": 3}, "temperature: must be a number between 0 and 2"),
        ({"temperature": True}, "temperature: must be a number between 0 and 2"),
        ({"top_p": 1.5}, "top_p: must be a number between 0 and 1"),
        ({"max_tokens": 0}, "max_tokens: must be a positive integer"),
        ({"max_tokens": "10"}, "max_tokens: must be an integer"),
        ({"stop": ["a", 1]}, "stop[1]: must be a non-empty string"),
        ({"stream": "yes"}, "stream: must be a boolean"),
        ({"parallel_tool_calls": 1}, "parallel_tool_calls: must be a boolean"),
        ({"session_id": 3}, "session_id: must be a string"),
        ({"response_format": "json"}, "response_format: must be an object"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"type": "function", "function": {"name": "f", "arguments": 3}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments: must be a JSON string",
        ),
    ],
)
def test_bad_bodies_name_the_field(patch: dict[str, Any], message: str) -> None:
    data = body(**patch)
    if "model" in patch and patch["model"] is None:
        del data["model"]
    if "messages" in patch and patch["messages"] is None:
        del data["messages"]
    with pytest.raises(FormatError) as err:
        openai.parse_request(data)
    assert str(err.value).startswith(message)


def test_a_body_that_is_not_an_object_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="body: must be a JSON object"):
        openai.parse_request([])


def test_render_response_matches_the_reference_tool_call_response() -> None:
    resp = ChatResponse(
        id="chatcmpl-abc123",
        model=MODEL,
        created=1700000000,
        content="I'll check the current weather in Athens, Greece for you.",
        tool_calls=[ToolCall("functions.get_weather:0", "get_weather", ATHENS_ARGS)],
        finish_reason="tool_calls",
        usage=Usage(885, 33),
    )
    out = openai.render_response(resp)
    expected = fresh(TOOL_CALL_RESPONSE)
    expected["object"] = "chat.completion"
    expected["created"] = 1700000000
    assert out == expected


def test_render_response_without_calls_omits_tool_calls() -> None:
    resp = ChatResponse(
        id="chatcmpl-1", model=MODEL, created=1, content="Quantum computing uses..."
    )
    out = openai.render_response(resp)
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Quantum computing uses...",
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_round_trip_tool_result_request_to_upstream_body() -> None:
    req = openai.parse_request(fresh(TOOL_RESULT_REQUEST))
    up = openai.build_request(req, "some-model")
    assert up["model"] == "some-model"
    assert up["messages"] == TOOL_RESULT_REQUEST["messages"]
    assert up["tools"] == [WEATHER_TOOL]
    assert up["stream"] is False and "stream_options" not in up


def test_round_trip_keeps_params_and_asks_for_stream_usage() -> None:
    source = body(
        stream=True,
        temperature=0.2,
        top_p=0.5,
        max_tokens=64,
        stop=["x"],
        seed=1,
        user="u",
        tools=[WEATHER_TOOL],
        parallel_tool_calls=False,
        presence_penalty=1.0,
        messages=[
            {"role": "system", "content": "Sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            },
        ],
    )
    up = openai.build_request(openai.parse_request(source), "m2")
    for key in ("temperature", "top_p", "max_tokens", "stop", "seed", "user", "tools", "messages"):
        assert up[key] == source[key], key
    assert up["parallel_tool_calls"] is False and up["presence_penalty"] == 1.0
    assert up["stream"] is True and up["stream_options"] == {"include_usage": True}
    assert (
        openai.build_request(
            openai.parse_request(body(max_tokens=9)), "m", max_tokens_field="max_completion_tokens"
        )["max_completion_tokens"]
        == 9
    )


def test_parse_response_reads_the_reference_response() -> None:
    resp = openai.parse_response(fresh(TOOL_CALL_RESPONSE))
    assert resp.id == "chatcmpl-abc123" and resp.model == MODEL
    assert resp.content == "I'll check the current weather in Athens, Greece for you."
    assert resp.tool_calls == [ToolCall("functions.get_weather:0", "get_weather", ATHENS_ARGS)]
    assert resp.finish_reason == "tool_calls"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (885, 33)
    assert resp.created > 0


def test_parse_response_parallel_calls_and_missing_ids() -> None:
    message = fresh(PARALLEL_MESSAGE)
    for call in message["tool_calls"]:
        del call["id"]
    resp = openai.parse_response({"choices": [{"message": message, "finish_reason": "stop"}]})
    assert [c.id for c in resp.tool_calls] == ["functions.get_weather:0", "functions.get_weather:1"]
    assert [c.arguments for c in resp.tool_calls] == [ATHENS_ARGS, LONDON_ARGS]
    assert resp.finish_reason == "tool_calls"  # an upstream that said "stop" after calling tools


@pytest.mark.parametrize(
    "bad",
    [{"error": {"message": "overloaded"}}, {"choices": []}, {"choices": [{"message": "x"}]}, []],
)
def test_parse_response_rejects_error_and_malformed_bodies(bad: Any) -> None:
    with pytest.raises(openai.UpstreamFormatError):
        openai.parse_response(bad)
    assert not issubclass(openai.UpstreamFormatError, FormatError)


def test_round_trip_tool_definition_request_keeps_tools_and_choice() -> None:
    up = openai.build_request(openai.parse_request(fresh(TOOL_REQUEST)), MODEL)
    assert {k: up[k] for k in TOOL_REQUEST} == TOOL_REQUEST

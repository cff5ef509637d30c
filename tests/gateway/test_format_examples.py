"""The API reference's Function Calling examples, as fixtures for the format tests.

The tests here check that the examples themselves go through the OpenAI parser as the reference
describes them; the other test_format_* modules import the constants.
"""

from __future__ import annotations

import copy
from typing import Any

from llmportal.gateway.formats import openai

MODEL = "Waymore-A1-Instruct-1011"
ATHENS_ARGS = '{"location": "Athens, Greece"}'
LONDON_ARGS = '{"location": "London, United Kingdom"}'
WEATHER_RESULT = (
    '{"temperature": 18, "unit": "celsius", "condition": "Partly cloudy", "humidity": 55}'
)

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and country, e.g. Athens, Greece",
                },
                "unit": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "description": "Temperature unit",
                },
            },
            "required": ["location"],
        },
    },
}

# POST /api/chat/completions (OpenAI format), "Tool Definitions".
TOOL_REQUEST: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "What is the weather in Athens, Greece?"}],
    "tools": [WEATHER_TOOL],
    "tool_choice": "auto",
}

# "Tool Call Responses": Response 200 (OpenAI format).
TOOL_CALL_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-abc123",
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "I'll check the current weather in Athens, Greece for you.",
                "tool_calls": [
                    {
                        "id": "functions.get_weather:0",
                        "index": 0,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ATHENS_ARGS},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 885, "completion_tokens": 33, "total_tokens": 918},
}

# "Submitting Tool Results" (the reference's `"tools": [...]` spelled out).
TOOL_RESULT_REQUEST: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "user", "content": "What is the weather in Athens, Greece?"},
        {
            "role": "assistant",
            "content": "I'll check the current weather in Athens, Greece for you.",
            "tool_calls": [
                {
                    "id": "functions.get_weather:0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ATHENS_ARGS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": WEATHER_RESULT},
    ],
    "tools": [WEATHER_TOOL],
}

# "Parallel Tool Calls": the assistant message of the response.
PARALLEL_MESSAGE: dict[str, Any] = {
    "role": "assistant",
    "content": "I'll check the weather for both cities.",
    "tool_calls": [
        {
            "id": "functions.get_weather:0",
            "index": 0,
            "type": "function",
            "function": {"name": "get_weather", "arguments": ATHENS_ARGS},
        },
        {
            "id": "functions.get_weather:1",
            "index": 1,
            "type": "function",
            "function": {"name": "get_weather", "arguments": LONDON_ARGS},
        },
    ],
}

# The same conversation in Anthropic format: the weather tool, the call, the result.
ANTHROPIC_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a given location",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}

ANTHROPIC_TOOL_RESULT_REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 1024,
    "system": "You are a helpful assistant.",
    "messages": [
        {"role": "user", "content": "What is the weather in Athens, Greece?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "text",
                    "text": "I'll check the current weather in Athens, Greece for you.",
                },
                {
                    "type": "tool_use",
                    "id": "functions.get_weather:0",
                    "name": "get_weather",
                    "input": {"location": "Athens, Greece"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "functions.get_weather:0",
                    "content": WEATHER_RESULT,
                }
            ],
        },
    ],
    "tools": [ANTHROPIC_TOOL],
    "tool_choice": {"type": "auto"},
}


def fresh(example: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(example)


def test_tool_definition_example_parses_into_one_tool_and_auto_choice() -> None:
    req = openai.parse_request(fresh(TOOL_REQUEST))
    assert [t.name for t in req.tools] == ["get_weather"]
    assert req.tools[0].parameters["required"] == ["location"]
    assert req.tool_choice is not None and req.tool_choice.mode == "auto"


def test_tool_result_example_keeps_the_call_id_on_both_sides() -> None:
    req = openai.parse_request(fresh(TOOL_RESULT_REQUEST))
    assistant, tool = req.messages[1], req.messages[2]
    assert assistant.tool_calls[0].id == "functions.get_weather:0"
    assert assistant.tool_calls[0].arguments == ATHENS_ARGS
    assert tool.role == "tool" and tool.tool_call_id == "functions.get_weather:0"
    assert tool.text == WEATHER_RESULT

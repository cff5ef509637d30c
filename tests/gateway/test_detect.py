"""Format detection: Anthropic only on Anthropic-only markers, OpenAI otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from llmportal.gateway.formats.detect import detect_format
from tests.gateway.test_format_examples import (
    ANTHROPIC_TOOL,
    ANTHROPIC_TOOL_RESULT_REQUEST,
    MODEL,
    TOOL_REQUEST,
    TOOL_RESULT_REQUEST,
    fresh,
)

USER = {"role": "user", "content": "What is the weather in Athens, Greece?"}
REFERENCE_CHAT = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Explain quantum computing."},
    ],
    "stream": True,
    "temperature": 0.7,
    "session_id": "clx...",
}


@pytest.mark.parametrize(
    "body",
    [
        REFERENCE_CHAT,
        {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]},
        TOOL_REQUEST,
        TOOL_RESULT_REQUEST,
        # max_tokens with OpenAI content parts (text, image_url) is still OpenAI.
        {
            "model": MODEL,
            "max_tokens": 100,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    ],
                }
            ],
        },
        {"model": MODEL, "max_tokens": 100, "messages": [USER]},
        {
            "model": MODEL,
            "messages": [USER],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
        {},
    ],
)
def test_openai_bodies_are_openai(body: dict[str, Any]) -> None:
    assert detect_format(fresh(body)) == "openai"


@pytest.mark.parametrize(
    "body",
    [
        ANTHROPIC_TOOL_RESULT_REQUEST,
        {"model": MODEL, "max_tokens": 100, "system": "Be brief.", "messages": [USER]},
        {"model": MODEL, "max_tokens": 100, "messages": [USER], "tools": [ANTHROPIC_TOOL]},
        {"model": MODEL, "max_tokens": 100, "messages": [USER], "stop_sequences": ["END"]},
        {"model": MODEL, "max_tokens": 100, "messages": [USER], "tool_choice": {"type": "any"}},
        {
            "model": MODEL,
            "max_tokens": 100,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        },
        {
            "model": MODEL,
            "max_tokens": 100,
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}],
                },
            ],
        },
    ],
)
def test_anthropic_markers_are_anthropic(body: dict[str, Any]) -> None:
    assert detect_format(fresh(body)) == "anthropic"


def test_a_body_that_is_not_an_object_is_openai() -> None:
    assert detect_format([]) == "openai"

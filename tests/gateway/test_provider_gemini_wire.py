"""The internal model <-> Gemini's generateContent wire (gemini_wire, gemini_schema), and the
Gemini stream relay's end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.gemini import GeminiProvider
from llmportal.gateway.providers.gemini_schema import gemini_schema
from llmportal.gateway.providers.gemini_wire import StreamParser, build_request, parse_response
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.types import (
    ChatRequest,
    Finish,
    ImagePart,
    Message,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    Usage,
    UsageEvent,
)

ATHENS = ToolCall(id="call_a", name="get_weather", arguments='{"location": "Athens"}')
LONDON = ToolCall(id="call_l", name="get_time", arguments='{"city": "London"}')


def user(text: str) -> Message:
    return Message(role="user", content=[TextPart(text)])


def tool_result(call_id: str, text: str, **kw: Any) -> Message:
    return Message(role="tool", content=[TextPart(text)], tool_call_id=call_id, **kw)


def test_system_messages_become_the_system_instruction_and_roles_are_user_and_model() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message(role="system", content=[TextPart("Be brief.")]),
            user("Hi"),
            Message(role="assistant", content=[TextPart("Hello!")]),
            user("How are you?"),
        ],
    )
    body = build_request(req)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "How are you?"}]},
    ]
    assert "tools" not in body and "generationConfig" not in body


def test_parallel_calls_and_their_results_go_back_as_function_parts() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            user("Weather in Athens, time in London?"),
            Message(role="assistant", tool_calls=[ATHENS, LONDON]),
            tool_result("call_a", '{"temperature": 18}'),
            tool_result("call_l", "14:05"),
            user("Thanks"),
        ],
    )
    contents = build_request(req)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"location": "Athens"}}},
            {"functionCall": {"name": "get_time", "args": {"city": "London"}}},
        ],
    }
    # Both results (and the user's next words) in one user turn; names from the calls' ids.
    assert contents[2:] == [
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}},
                {"text": "Thanks"},
            ],
        }
    ]


def test_an_error_result_is_sent_as_an_error() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message(role="assistant", tool_calls=[ATHENS]),
            tool_result("call_a", "no such city", is_error=True),
        ],
    )
    part = build_request(req)["contents"][1]["parts"][0]
    assert part == {
        "functionResponse": {"name": "get_weather", "response": {"error": "no such city"}}
    }


def test_a_result_for_no_call_of_the_conversation_is_a_400() -> None:
    req = ChatRequest(model="m", messages=[user("hi"), tool_result("call_nowhere", "18")])
    with pytest.raises(UpstreamRejected) as caught:
        build_request(req)
    assert caught.value.status == 400
    assert "call_nowhere" in caught.value.message


def test_images_inline_or_by_uri() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message(
                role="user",
                content=[
                    TextPart("What is this?"),
                    ImagePart("data:image/png;base64,iVBORw0KGgo="),
                    ImagePart("https://example.com/cat.webp?size=2"),
                ],
            )
        ],
    )
    assert build_request(req)["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://example.com/cat.webp?size=2", "mimeType": "image/webp"}},
    ]


def test_tools_tool_choice_and_generation_config() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"location": {"type": "string", "format": "uri"}},
        "required": ["location"],
        "additionalProperties": False,
    }
    req = ChatRequest(
        model="m",
        messages=[user("hi")],
        tools=[Tool("get_weather", "Weather now", schema), Tool("ping", None, {"type": "object"})],
        tool_choice=ToolChoice(mode="tool", name="get_weather"),
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        seed=7,
        extra={"top_k": 5, "response_format": {"type": "json_object"}},
    )
    body = build_request(req)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather now",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"location": {"type": "STRING"}},
                        "required": ["location"],
                    },
                },
                {"name": "ping"},
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["generationConfig"] == {
        "maxOutputTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
        "topK": 5,
        "responseMimeType": "application/json",
    }


@pytest.mark.parametrize(
    ("mode", "wire"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")]
)
def test_tool_choice_modes(mode: str, wire: str) -> None:
    req = ChatRequest(model="m", messages=[user("hi")], tool_choice=ToolChoice(mode=mode))  # type: ignore[arg-type]
    assert build_request(req)["toolConfig"] == {"functionCallingConfig": {"mode": wire}}


def test_a_json_schema_response_format_becomes_the_response_schema() -> None:
    spec = {
        "name": "answer",
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    req = ChatRequest(
        model="m",
        messages=[user("hi")],
        extra={"response_format": {"type": "json_schema", "json_schema": spec}},
    )
    assert build_request(req)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
    }


def test_schema_refs_nullables_and_unknown_keys() -> None:
    schema = {
        "type": "object",
        "$defs": {"Unit": {"type": "string", "enum": ["C", "F"], "title": "Unit"}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit"},
            "days": {"type": ["integer", "null"], "exclusiveMinimum": 0, "format": "int32"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "mode": {"const": "fast"},
        },
        "required": ["unit", "gone"],
        "additionalProperties": False,
    }
    assert gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "unit": {"type": "STRING", "enum": ["C", "F"], "title": "Unit"},
            "days": {"type": "INTEGER", "format": "int32", "nullable": True},
            "note": {"type": "STRING", "default": None, "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "mode": {"type": "STRING", "enum": ["fast"]},
        },
        "required": ["unit"],
    }


def test_a_recursive_ref_stops() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    out = gemini_schema(schema)
    assert out["type"] == "OBJECT"
    assert out["properties"]["child"]["type"] == "OBJECT"


def answer(parts: list[dict[str, Any]], finish: str | None = "STOP", **kw: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **kw}


def test_an_answer_without_the_models_thoughts_and_usage_with_them() -> None:
    usage = {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 30}
    resp = parse_response(
        answer(
            [{"text": "Thinking it over", "thought": True}, {"text": "Hi"}, {"text": " there"}],
            usageMetadata=usage,
            responseId="r1",
            modelVersion="gemini-2.5-flash",
        )
    )
    assert (resp.id, resp.model, resp.content, resp.finish_reason) == (
        "r1",
        "gemini-2.5-flash",
        "Hi there",
        "stop",
    )
    assert resp.usage == Usage(prompt_tokens=9, completion_tokens=34)


@pytest.mark.parametrize(
    ("reason", "ours"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(reason: str, ours: str) -> None:
    assert parse_response(answer([{"text": "x"}], reason)).finish_reason == ours


def test_a_blocked_prompt_is_a_content_filter() -> None:
    resp = parse_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert (resp.content, resp.finish_reason) == ("", "content_filter")


def test_calls_get_ids_and_their_thought_signature_makes_the_round_trip() -> None:
    resp = parse_response(
        answer(
            [
                {"functionCall": {"name": "get_weather", "args": {"location": "Athens"}}},
                {
                    "functionCall": {"id": "fc1", "name": "get_time", "args": {}},
                    "thoughtSignature": "c2lnbmF0dXJl",
                },
            ]
        )
    )
    assert resp.finish_reason == "tool_calls" and resp.content is None
    first, second = resp.tool_calls
    assert first.id.startswith("call_") and first.arguments == '{"location":"Athens"}'
    assert second.id.startswith("fc1")
    back = build_request(
        ChatRequest(model="m", messages=[Message("assistant", tool_calls=[second])])
    )
    assert back["contents"][0]["parts"] == [
        {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "c2lnbmF0dXJl"}
    ]


def test_a_stream_relays_text_and_calls_once_each_with_the_last_usage() -> None:
    parser = StreamParser()
    events = parser.feed(answer([{"text": "Hel"}], None, usageMetadata={"promptTokenCount": 3}))
    events += parser.feed(answer([{"text": "lo"}], None))
    call = {"functionCall": {"name": "get_weather", "args": {"location": "Athens"}}}
    last_usage = {"promptTokenCount": 3, "candidatesTokenCount": 5}
    events += parser.feed(answer([call], "STOP", usageMetadata=last_usage))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Start", "TextDelta", "TextDelta", "ToolCallStart", "ToolCallDelta", "Finish"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    start = next(e for e in events if isinstance(e, ToolCallStart))
    assert (start.index, start.name) == (0, "get_weather")
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == [
        '{"location":"Athens"}'
    ]
    assert events[-1] == Finish("tool_calls")
    assert parser.usage == Usage(prompt_tokens=3, completion_tokens=5)


def relay() -> Any:
    cfg = ProviderConfig(id="gem", type="gemini", api_key="k")
    return GeminiProvider(cfg)._relay()


def test_a_stream_that_ends_without_a_finish_reason_was_cut_short() -> None:
    r = relay()
    assert r.feed(None, b'{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}')
    with pytest.raises(UpstreamError) as caught:
        r.end()
    assert caught.value.message == "Upstream 'gem' ended the stream before it was complete"


def test_a_finished_stream_ends_with_its_usage() -> None:
    r = relay()
    chunk = answer([{"text": "Hi"}], "STOP", usageMetadata={"promptTokenCount": 2})
    r.feed(None, json.dumps(chunk).encode())
    assert r.end() == [UsageEvent(Usage(prompt_tokens=2, completion_tokens=0))]


def test_the_default_base_url_and_the_model_in_the_path() -> None:
    provider = GeminiProvider(ProviderConfig(id="gem", type="gemini", api_key="k"))
    assert provider.headers["x-goog-api-key"] == "k"
    model = ModelConfig(id="x", provider="gem", upstream_model="models/gemini-2.5-flash")
    assert provider.model_url(model, True) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse"
    )

"""The `gemini` provider type through a real portal process: openai and anthropic SDK clients in
front, the fake upstream's Gemini API behind (the gm-* models); the portal's request body is
compared with what Google's own SDK sends (the fake's answers are checked against that SDK in
tests/gateway/test_fake_gemini.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import openai
import pytest
from google import genai
from google.genai import types

from tests.e2e.conftest import PortalServer
from tests.fixtures.gemini_wire import GEMINI_KEY
from tests.fixtures.upstreams import PNG_B64, TEXT, USAGE, FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


def gemini_requests(fake: FakeUpstream, scenario: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"].startswith(f"/v1beta/models/{scenario}:")]


def test_text(client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *HELLO]
    resp = client.chat.completions.create(model="gm-plain", messages=messages, max_tokens=40)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == USAGE
    sent = gemini_requests(fake_upstream, "plain")[-1]
    assert sent["path"] == "/v1beta/models/plain:generateContent"
    assert sent["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert sent["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 40},
    }
    (row,) = server.usage(1)
    assert (row["provider"], row["status"], row["prompt_tokens"], row["completion_tokens"]) == (
        "fake-gemini",
        "success",
        *USAGE,
    )


def test_stream_text_and_usage(
    client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gm-plain",
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    # The fake's thought before the first piece of text is not part of the answer.
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == USAGE
    sent = gemini_requests(fake_upstream, "plain")[-1]
    assert (sent["path"], sent["query"]) == (
        "/v1beta/models/plain:streamGenerateContent",
        "alt=sse",
    )
    (row,) = server.usage(1)
    assert (row["stream"], row["status"], row["completion_tokens"]) == (1, "success", USAGE[1])


@pytest.mark.parametrize("stream", [False, True])
def test_a_parallel_tool_round_trip(
    client: openai.OpenAI, fake_upstream: FakeUpstream, stream: bool
) -> None:
    kwargs: dict[str, Any] = {"model": "gm-parallel", "messages": HELLO, "tools": [WEATHER]}
    if stream:
        calls: dict[int, dict[str, str]] = {}
        for chunk in client.chat.completions.create(**kwargs, stream=True):
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                call = calls.setdefault(tc.index, {"id": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                call["arguments"] += (tc.function.arguments if tc.function else None) or ""
        got = [(calls[i]["id"], calls[i]["arguments"]) for i in sorted(calls)]
    else:
        message = client.chat.completions.create(**kwargs).choices[0].message
        got = [(c.id, c.function.arguments) for c in message.tool_calls or []]  # type: ignore[union-attr]
    assert [json.loads(args)["location"] for _, args in got] == [
        "Athens, Greece",
        "London, United Kingdom",
    ]
    (athens_id, athens_args), (london_id, london_args) = got
    assert athens_id.startswith("call_") and london_id == "call_london"
    sent_tools = gemini_requests(fake_upstream, "parallel")[-1]["body"]["tools"]
    assert sent_tools == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"location": {"type": "STRING"}},
                        "required": ["location"],
                    },
                }
            ]
        }
    ]

    history = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": "get_weather", "arguments": a}}
                for cid, a in got
            ],
        },
        {"role": "tool", "tool_call_id": athens_id, "content": '{"temperature": 18}'},
        {"role": "tool", "tool_call_id": london_id, "content": "11 degrees, rain"},
    ]
    answer = client.chat.completions.create(model="gm-plain", messages=history, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert answer.choices[0].message.content == TEXT
    contents = gemini_requests(fake_upstream, "plain")[-1]["body"]["contents"]
    assert contents[1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": json.loads(athens_args)}},
                {"functionCall": {"name": "get_weather", "args": json.loads(london_args)}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 18}}},
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"result": "11 degrees, rain"},
                    }
                },
            ],
        },
    ]


def test_an_anthropic_client_tool_round_trip(
    anthropic_client: Any, fake_upstream: FakeUpstream
) -> None:
    tool = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
    }
    msg = anthropic_client.messages.create(
        model="gm-tool", max_tokens=64, messages=HELLO, tools=[tool]
    )
    assert msg.stop_reason == "tool_use"
    (use,) = [b for b in msg.content if b.type == "tool_use"]
    assert (use.name, use.input) == ("get_weather", {"location": "Athens, Greece"})
    history = [
        *HELLO,
        {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees"}],
        },
    ]
    reply = anthropic_client.messages.create(
        model="gm-plain", max_tokens=64, messages=history, tools=[tool]
    )
    assert [b.text for b in reply.content if b.type == "text"] == [TEXT]
    contents = gemini_requests(fake_upstream, "plain")[-1]["body"]["contents"]
    assert contents[1:] == [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": use.input}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "18 degrees"}}}
            ],
        },
    ]


def test_an_image_reaches_the_upstream_inline(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]
    resp = client.chat.completions.create(
        model="gm-vision",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
    )
    assert resp.choices[0].message.content == TEXT
    parts = gemini_requests(fake_upstream, "plain")[-1]["body"]["contents"][0]["parts"]
    assert parts == [
        {"text": "What is in this picture?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
    ]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "message"),
    [
        ("gm-error400", 400, "Upstream rejected the request: messages.0.content: fake upstream"),
        ("gm-error500", 502, "Upstream 'fake-gemini' answered 500: fake upstream exploded"),
        ("gm-slow", 504, "Upstream 'fake-gemini' timed out after 1s"),
    ],
)
def test_upstream_failures_keep_their_meaning(
    client: openai.OpenAI, server: PortalServer, model: str, status: int, message: str, stream: bool
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        if stream:
            list(client.chat.completions.create(model=model, messages=HELLO, stream=True))  # type: ignore[call-overload]
        else:
            client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[call-overload]
    assert caught.value.status_code == status
    assert message in caught.value.response.json()["error"]
    (row,) = server.usage(1)
    assert (row["provider"], row["status"], row["http_status"]) == ("fake-gemini", "error", status)


@pytest.mark.parametrize("model", ["gm-midstream", "gm-cut"])
def test_a_stream_cut_mid_way(client: openai.OpenAI, server: PortalServer, model: str) -> None:
    pieces = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=model, messages=HELLO, stream=True):  # type: ignore[call-overload]
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["Hello", " from"]  # what came before the failure
    assert "fake-gemini" in caught.value.message
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["stream"]) == ("error", 502, 1)
    assert row["completion_tokens"] > 0


def test_the_portal_sends_what_googles_sdk_sends(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    declaration = types.FunctionDeclaration(
        name="get_weather",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"location": types.Schema(type=types.Type.STRING)},
            required=["location"],
        ),
    )
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"]
            )
        ),
        max_output_tokens=40,
        temperature=0.5,
        top_p=0.9,
        stop_sequences=["END"],
        seed=7,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part(text="Weather here?"),
                types.Part(
                    inline_data=types.Blob(mime_type="image/png", data=base64.b64decode(PNG_B64))
                ),
            ],
        ),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name="get_weather", args={"location": "Athens"}
                    )
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"temperature": 18}
                    )
                )
            ],
        ),
    ]
    options = types.HttpOptions(base_url=fake_upstream.url, api_version="v1beta")
    with genai.Client(api_key=GEMINI_KEY, http_options=options) as sdk:
        sdk.models.generate_content(model="plain", contents=contents, config=config)
    by_sdk = fake_upstream.requests[-1]["body"]

    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather here?"}, image]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Athens"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temperature": 18}'},
    ]
    client.chat.completions.create(
        model="gm-vision",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=40,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
        seed=7,
    )
    by_portal = gemini_requests(fake_upstream, "plain")[-1]["body"]
    assert by_portal == as_documented(by_sdk)


def as_documented(body: dict[str, Any]) -> dict[str, Any]:
    """google-genai's body in the REST reference's spelling. Proto3 JSON reads both spellings
    alike: the SDK writes a Blob's `mime_type` as `mimeType` would be, its bytes in URL-safe
    base64 (the portal passes the client's standard base64 on), and the optional role "user"
    on the system instruction."""
    body = json.loads(json.dumps(body))
    body["systemInstruction"].pop("role", None)
    for content in body["contents"]:
        for part in content["parts"]:
            blob = part.get("inlineData")
            if blob is not None:
                blob["mimeType"] = blob.pop("mime_type")
                blob["data"] = base64.b64encode(base64.urlsafe_b64decode(blob["data"])).decode()
    return body


def test_a_tool_result_for_no_call_is_a_400(client: openai.OpenAI, server: PortalServer) -> None:
    messages = [*HELLO, {"role": "tool", "tool_call_id": "call_nowhere", "content": "18"}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gm-plain", messages=messages)  # type: ignore[arg-type]
    assert "call_nowhere" in caught.value.response.json()["error"]
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"]) == ("error", 400)


def test_the_responses_api(client: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    with client.responses.stream(model="gm-plain", input="Hi", instructions="Be brief.") as s:
        pieces = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(pieces) == final.output_text == TEXT
    assert final.usage is not None and final.usage.output_tokens == USAGE[1]
    sent = gemini_requests(fake_upstream, "plain")[-1]["body"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    calls = client.responses.create(model="gm-parallel", input="Weather?", tools=[
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    ]).output  # fmt: skip
    assert [c.type for c in calls] == ["function_call", "function_call"]


@pytest.mark.parametrize("stream", [False, True])
def test_usage_is_counted_when_gemini_reports_none(
    client: openai.OpenAI, server: PortalServer, stream: bool
) -> None:
    answer = client.chat.completions.create(model="gm-nousage", messages=HELLO, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        text = answer.choices[0].message.content
    assert text == TEXT
    (row,) = server.usage(1)
    assert row["status"] == "success"
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


def test_a_client_hanging_up_closes_the_gemini_stream(
    client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.disconnects.clear()
    stream = client.chat.completions.create(model="gm-drip", messages=HELLO, stream=True)  # type: ignore[arg-type]
    pieces = 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces == 3:
            break
    stream.close()
    assert asyncio.run(fake_upstream.wait_disconnect("drip"))
    (row,) = server.usage(1)
    assert [row["provider"], row["http_status"], row["error"]] == [
        "fake-gemini",
        499,
        "Client disconnected",
    ]

"""The `bedrock` provider type through a real portal: SigV4-signed Converse and ConverseStream
calls on the fake upstream (which verifies each signature, and whose answers boto3 parses:
tests/gateway/test_fake_bedrock.py), driven by the openai and anthropic SDKs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import PNG_B64, TEXT, USAGE, WEATHER_CALLS, FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


def _sent(fake_upstream: FakeUpstream) -> dict[str, Any]:
    return fake_upstream.requests[-1]


def test_text_through_a_signed_converse_call(
    client: openai.OpenAI, fake_upstream: FakeUpstream, server: PortalServer
) -> None:
    resp = client.chat.completions.create(
        model="br-plain",
        messages=[{"role": "system", "content": "Be brief."}, *HELLO],  # type: ignore[list-item]
        max_tokens=50,
        temperature=0.2,
        stop=["END"],
    )
    assert resp.choices[0].message.content == TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == USAGE
    sent = _sent(fake_upstream)
    assert sent["path"] == "/model/plain/converse"
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert sent["body"] == {
        "messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "stopSequences": ["END"]},
    }
    (row,) = server.usage(1)
    assert (row["provider"], row["http_status"], row["prompt_tokens"]) == ("fake-bedrock", 200, 11)


def test_stream_text_and_usage(client: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    chunks = list(
        client.chat.completions.create(
            model="br-plain",
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == USAGE
    assert _sent(fake_upstream)["path"] == "/model/plain/converse-stream"


@pytest.mark.parametrize("stream", [False, True])
def test_a_parallel_tool_round_trip(
    client: openai.OpenAI, fake_upstream: FakeUpstream, stream: bool
) -> None:
    kwargs: dict[str, Any] = {"model": "br-parallel", "messages": HELLO, "tools": [WEATHER]}
    if stream:
        calls: dict[int, dict[str, str]] = {}
        for chunk in client.chat.completions.create(**kwargs, stream=True):
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += tc.id or ""
                call["name"] += (tc.function.name or "") if tc.function else ""
                call["arguments"] += (tc.function.arguments or "") if tc.function else ""
        got = [(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]
    else:
        resp = client.chat.completions.create(**kwargs)
        assert resp.choices[0].finish_reason == "tool_calls"
        got = [
            (c.id, c.function.name, c.function.arguments)
            for c in resp.choices[0].message.tool_calls or []
        ]  # type: ignore[union-attr]
    assert [(i, n, json.loads(a)) for i, n, a in got] == [
        (i, n, json.loads(a)) for i, n, a in WEATHER_CALLS
    ]
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in got
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": "call_athens", "content": '{"temp_c": 31}'},
        {"role": "tool", "tool_call_id": "call_london", "content": "14 C and raining"},
    ]
    resp = client.chat.completions.create(
        model="br-plain",
        messages=[*HELLO, assistant, *results],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert resp.choices[0].message.content == TEXT
    messages = _sent(fake_upstream)["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["toolUse"]["toolUseId"] for b in messages[1]["content"]] == [
        "call_athens",
        "call_london",
    ]
    assert messages[1]["content"][0]["toolUse"]["input"] == {"location": "Athens, Greece"}
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "call_athens", "content": [{"json": {"temp_c": 31}}]}},
        {"toolResult": {"toolUseId": "call_london", "content": [{"text": "14 C and raining"}]}},
    ]


def test_an_anthropic_client_tool_round_trip(
    anthropic_client: Any, fake_upstream: FakeUpstream
) -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    msg = anthropic_client.messages.create(
        model="br-tool", max_tokens=64, messages=HELLO, tools=tools
    )
    assert msg.stop_reason == "tool_use"
    (use,) = [b for b in msg.content if b.type == "tool_use"]
    assert (use.id, use.name, use.input) == (
        "call_athens",
        "get_weather",
        {"location": "Athens, Greece"},
    )
    tool_config = _sent(fake_upstream)["body"]["toolConfig"]
    assert tool_config == {
        "tools": [
            {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}
        ]
    }
    history = [
        *HELLO,
        {"role": "assistant", "content": [use.model_dump()]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "31 C", "is_error": True}
            ],
        },
    ]
    reply = anthropic_client.messages.create(
        model="br-plain", max_tokens=64, messages=history, tools=tools
    )
    assert reply.content[0].text == TEXT
    last = _sent(fake_upstream)["body"]["messages"][-1]
    assert last == {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "call_athens",
                    "content": [{"text": "31 C"}],
                    "status": "error",
                }
            }
        ],
    }


def test_an_image_reaches_bedrock_as_bytes(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]
    resp = client.chat.completions.create(
        model="br-vision",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
    )
    assert resp.choices[0].message.content == TEXT
    assert _sent(fake_upstream)["body"]["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG_B64}}},
    ]


def test_an_image_by_url_is_a_clear_400(
    client: openai.OpenAI, fake_upstream: FakeUpstream, server: PortalServer
) -> None:
    seen = len(fake_upstream.requests)
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="br-vision",
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
        )
    assert "only inline" in str(caught.value.body)
    assert len(fake_upstream.requests) == seen  # refused before any call upstream
    assert [r["http_status"] for r in server.usage(1)] == [400]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "status"), [("br-error400", 400), ("br-error500", 502)])
def test_upstream_errors_keep_their_meaning(
    client: openai.OpenAI, server: PortalServer, model: str, status: int, stream: bool
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=HELLO, stream=stream)  # type: ignore[call-overload]
    assert caught.value.status_code == status
    if status == 400:
        assert "fake upstream says this is invalid" in str(caught.value.body)
    assert [(r["provider"], r["http_status"]) for r in server.usage(1)] == [
        ("fake-bedrock", status)
    ]


def test_a_slow_upstream_is_504(client: openai.OpenAI, server: PortalServer) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="br-slow", messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 504
    assert time.monotonic() - started < 2.5  # the provider's 1 s timeout, not the 3 s answer
    assert [r["http_status"] for r in server.usage(1)] == [504]


@pytest.mark.parametrize("model", ["br-cut", "br-midstream"])
def test_a_stream_cut_short_is_an_error_event(
    client: openai.OpenAI, server: PortalServer, model: str
) -> None:
    pieces = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=model, messages=HELLO, stream=True):  # type: ignore[call-overload]
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["Hello", " from"]  # the text before the failure arrived
    if model == "br-midstream":
        assert "modelStreamErrorException" in str(caught.value)
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["stream"]) == ("error", 502, 1)


def test_a_stream_without_usage_is_counted(client: openai.OpenAI, server: PortalServer) -> None:
    chunks = list(client.chat.completions.create(model="br-nousage", messages=HELLO, stream=True))  # type: ignore[call-overload]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    (row,) = server.usage(1)
    assert row["status"] == "success" and row["completion_tokens"] > 0


def test_a_client_that_hangs_up_closes_the_bedrock_stream(
    client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.disconnects.clear()
    with client.chat.completions.create(model="br-drip", messages=HELLO, stream=True) as stream:  # type: ignore[call-overload]
        pieces = (c for c in stream if c.choices and c.choices[0].delta.content)
        assert [next(pieces).choices[0].delta.content for _ in range(3)] == ["Hello"] * 3
    assert asyncio.run(fake_upstream.wait_disconnect("drip"))
    assert [(r["http_status"], r["error"]) for r in server.usage(1)] == [
        (499, "Client disconnected")
    ]

"""The gateway against the scripted fake upstream: each provider type (oa-* models on an
OpenAI-compatible upstream, an-* on an Anthropic one) answered in each client format, and
every way an upstream can fail."""

from __future__ import annotations

import json

import httpx
import pytest

from llmportal.portal import Portal
from tests.fixtures.upstreams import TEXT, USAGE, FakeUpstream
from tests.gateway.conftest import only_usage, sse_data, usage_rows

HELLO = [{"role": "user", "content": "Hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
PROVIDERS = ["oa", "an"]


def openai_body(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": HELLO, **extra}


def anthropic_body(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "max_tokens": 50, "messages": HELLO, **extra}


@pytest.mark.parametrize("p", PROVIDERS)
async def test_plain_completion_in_openai_format(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream, p: str
) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body(f"{p}-plain"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == f"{p}-plain"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": TEXT}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}
    row = await only_usage(gw_portal)
    assert (row.model, row.provider, row.status, row.http_status, row.stream) == (
        f"{p}-plain",
        "fake-openai" if p == "oa" else "fake-anthropic",
        "success",
        200,
        False,
    )
    assert (row.prompt_tokens, row.completion_tokens) == USAGE
    assert row.latency_ms >= 0
    seen = fake_upstream.last("plain")
    if p == "oa":
        assert seen["path"] == "/v1/chat/completions"
        assert seen["headers"]["authorization"] == "Bearer sk-fake-openai"
    else:
        assert seen["path"] == "/v1/messages"
        assert seen["headers"]["x-api-key"] == "sk-fake-anthropic"
        assert seen["headers"]["anthropic-version"] == "2023-06-01"
        assert seen["body"]["max_tokens"] == 1024  # the portal's default_max_tokens


@pytest.mark.parametrize("p", PROVIDERS)
async def test_plain_completion_in_anthropic_format(chat: httpx.AsyncClient, p: str) -> None:
    r = await chat.post("/v1/messages", json=anthropic_body(f"{p}-plain"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": TEXT}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 11
    assert body["usage"]["output_tokens"] == 6
    # Detected on /api/chat/completions too, by the Anthropic-only top-level `system`.
    r = await chat.post(
        "/api/chat/completions", json=anthropic_body(f"{p}-plain", system="Be brief.")
    )
    assert r.json()["type"] == "message"


@pytest.mark.parametrize("p", PROVIDERS)
async def test_streaming_in_openai_format(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream, p: str
) -> None:
    body = openai_body(f"{p}-plain", stream=True, stream_options={"include_usage": True})
    r = await chat.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_data(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == TEXT
    assert chunks[-1]["usage"]["total_tokens"] == 17
    row = await only_usage(gw_portal)
    assert (row.status, row.stream, row.prompt_tokens, row.completion_tokens) == (
        "success",
        True,
        *USAGE,
    )
    if p == "oa":
        assert fake_upstream.last("plain")["body"]["stream_options"] == {"include_usage": True}


async def test_openai_stream_usage_chunk_only_when_asked(chat: httpx.AsyncClient) -> None:
    r = await chat.post("/v1/chat/completions", json=openai_body("oa-plain", stream=True))
    chunks = sse_data(r.text)[:-1]
    assert all(c["choices"] for c in chunks)


@pytest.mark.parametrize("p", PROVIDERS)
async def test_streaming_in_anthropic_format(chat: httpx.AsyncClient, p: str) -> None:
    r = await chat.post("/v1/messages", json=anthropic_body(f"{p}-plain", stream=True))
    assert r.status_code == 200
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in names and "content_block_stop" in names
    deltas = [e["delta"]["text"] for e in sse_data(r.text) if e["type"] == "content_block_delta"]
    assert "".join(deltas) == TEXT


@pytest.mark.parametrize("p", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_in_openai_format(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, p: str, stream: bool
) -> None:
    body = openai_body(f"{p}-parallel", tools=[WEATHER_TOOL], tool_choice="auto", stream=stream)
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    if stream:
        calls: dict[int, dict[str, str]] = {}
        reasons = []
        for chunk in sse_data(r.text)[:-1]:
            for choice in chunk["choices"]:
                reasons.append(choice["finish_reason"])
                for tc in choice["delta"].get("tool_calls") or []:
                    call = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                    call["id"] = tc.get("id") or call["id"]
                    call["name"] += tc.get("function", {}).get("name") or ""
                    call["arguments"] += tc.get("function", {}).get("arguments") or ""
        got = [calls[i] for i in sorted(calls)]
        assert "tool_calls" in reasons
    else:
        message = r.json()["choices"][0]["message"]
        assert r.json()["choices"][0]["finish_reason"] == "tool_calls"
        got = [
            {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message["tool_calls"]
        ]
    assert [c["name"] for c in got] == ["get_weather", "get_weather"]
    assert [json.loads(c["arguments"]) for c in got] == [
        {"location": "Athens, Greece"},
        {"location": "London, United Kingdom"},
    ]
    assert len({c["id"] for c in got}) == 2
    # The tool definition reached the upstream in its own format.
    sent = fake_upstream.last("parallel")["body"]["tools"][0]
    if p == "oa":
        assert sent["function"]["name"] == "get_weather"
    else:
        assert sent["name"] == "get_weather"
        assert sent["input_schema"]["required"] == ["location"]


@pytest.mark.parametrize("p", PROVIDERS)
async def test_tool_call_in_anthropic_format(chat: httpx.AsyncClient, p: str) -> None:
    tool = {
        "name": "get_weather",
        "description": "weather",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
    }
    r = await chat.post("/v1/messages", json=anthropic_body(f"{p}-tool", tools=[tool]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stop_reason"] == "tool_use"
    uses = [b for b in body["content"] if b["type"] == "tool_use"]
    assert [(u["name"], u["input"]) for u in uses] == [
        ("get_weather", {"location": "Athens, Greece"})
    ]


async def test_tool_result_round_trip_reaches_the_upstream(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    messages = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_athens",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Athens"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_athens", "content": '{"temperature": 18}'},
    ]
    body = {"model": "an-plain", "messages": messages, "tools": [WEATHER_TOOL]}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    sent = fake_upstream.last("plain")["body"]["messages"]
    assert sent[1]["content"][0]["type"] == "tool_use"
    assert sent[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_athens",
        "content": '{"temperature": 18}',
    }


FAILURES = [
    ("error500", 502, "answered 500: fake upstream exploded"),
    ("error429", 502, "answered 429: fake upstream is rate limiting you"),
    ("error400", 400, "Upstream rejected the request: messages.0.content"),
    ("slow", 504, "timed out after 1s"),
    ("badjson", 502, "sent invalid JSON"),
    ("cut", 502, "connection failed"),
]


@pytest.mark.parametrize("p", PROVIDERS)
@pytest.mark.parametrize(
    ("scenario", "status", "message", "stream"),
    # A stream cut after its first bytes is a mid-stream failure (tested below).
    [(*f, stream) for f in FAILURES for stream in (False, True) if (f[0], stream) != ("cut", True)],
)
async def test_upstream_failures_before_the_first_byte(
    chat: httpx.AsyncClient,
    gw_portal: Portal,
    p: str,
    scenario: str,
    status: int,
    message: str,
    stream: bool,
) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body(f"{p}-{scenario}", stream=stream))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["error"]
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status, row.stream) == ("error", status, stream)
    assert message in (row.error or "")
    assert (row.prompt_tokens, row.completion_tokens, row.input_cost_micros) == (0, 0, 0)


async def test_unreachable_upstream_is_502(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body("dead-model"))
    assert r.status_code == 502
    assert r.json() == {"error": "Upstream 'dead' is unreachable"}
    assert (await only_usage(gw_portal)).http_status == 502


@pytest.mark.parametrize("p", PROVIDERS)
@pytest.mark.parametrize("scenario", ["midstream", "cut"])
async def test_failure_mid_stream_ends_with_an_error_event(
    chat: httpx.AsyncClient, gw_portal: Portal, p: str, scenario: str
) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body(f"{p}-{scenario}", stream=True))
    assert r.status_code == 200
    events = sse_data(r.text)
    assert events[-1] == "[DONE]"
    assert set(events[-2]) == {"error"}
    assert events[-2]["error"]["message"]
    assert any(c["choices"][0]["delta"].get("content") for c in events[:-2] if c.get("choices"))
    row = await only_usage(gw_portal)
    assert (row.status, row.http_status, row.stream) == ("error", 502, True)
    assert row.completion_tokens > 0  # what was relayed before the failure


async def test_failure_mid_stream_in_anthropic_format(chat: httpx.AsyncClient) -> None:
    r = await chat.post("/v1/messages", json=anthropic_body("an-midstream", stream=True))
    assert r.status_code == 200
    assert "event: error" in r.text
    events = sse_data(r.text)
    assert events[-1] == "[DONE]"
    assert events[-2] == {"error": {"message": "Upstream 'fake-anthropic': overloaded"}}


async def test_usage_is_counted_when_the_upstream_reports_none(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body("oa-nousage"))
    assert r.status_code == 200
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    r = await chat.post("/api/chat/completions", json=openai_body("oa-nousage", stream=True))
    rows = await usage_rows(gw_portal)
    assert [(x.prompt_tokens, x.completion_tokens) for x in rows] == [
        (usage["prompt_tokens"], usage["completion_tokens"])
    ] * 2


async def test_cost_in_micro_dollars(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    r = await chat.post("/api/chat/completions", json=openai_body("priced"))
    assert r.status_code == 200
    row = await only_usage(gw_portal)
    # 11 prompt tokens at $2/M and 6 completion tokens at $6/M
    assert (row.input_cost_micros, row.output_cost_micros) == (22, 36)
    assert row.cost_micros == 58


async def test_fallback_model_answers_when_the_first_fails(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    for stream in (False, True):
        body = openai_body("with-fallback", stream=stream)
        r = await chat.post("/api/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert TEXT in r.text or "upstream" in r.text
    rows = await usage_rows(gw_portal)
    assert [(x.model, x.provider, x.status) for x in rows] == [
        ("an-plain", "fake-anthropic", "success")
    ] * 2

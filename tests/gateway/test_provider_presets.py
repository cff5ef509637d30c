"""The `openai` type's presets against fakes that have each upstream's quirk
(tests/fixtures/preset_wire.py): what goes on the wire, and what the client and the usage row
get back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llmportal.config import ProviderConfig
from llmportal.gateway.formats.openai import StreamParser
from llmportal.gateway.providers.openai import OpenAIProvider
from llmportal.gateway.providers.openai_quirks import mistral_tool_id
from llmportal.gateway.types import (
    ChatRequest,
    Message,
    ReasoningDelta,
    TextDelta,
    TextPart,
    ToolCall,
    ToolChoice,
)
from llmportal.portal import Portal
from tests.fixtures import preset_wire
from tests.fixtures.preset_wire import (
    MISTRAL_CALL_ID,
    OPENROUTER_HEADERS,
    REASONING,
    STREAMS,
    TEXT,
    USAGE,
    WEATHER_TOOL,
)
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import only_usage, sse_data, usage_rows

HELLO = [{"role": "user", "content": "Hello"}]
REPORTED = (USAGE["prompt_tokens"], USAGE["completion_tokens"])


def streamed_text(body: str) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in sse_data(body)
        if isinstance(c, dict) and c.get("choices")
    )


@pytest.mark.parametrize(("model", "reported"), STREAMS.items())
async def test_a_stream_per_preset_arrives_and_is_metered(
    chat: httpx.AsyncClient,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
    model: str,
    reported: bool,
) -> None:
    body = {"model": model, "messages": HELLO, "stream": True}
    body["stream_options"] = {"include_usage": True}
    r = await chat.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert streamed_text(r.text) == TEXT
    usage_chunk = [c for c in sse_data(r.text) if isinstance(c, dict) and c.get("usage")][-1]
    row = await only_usage(gw_portal)
    assert (row.status, row.stream) == ("success", True)
    tokens = (row.prompt_tokens, row.completion_tokens)
    assert tokens == (
        usage_chunk["usage"]["prompt_tokens"],
        usage_chunk["usage"]["completion_tokens"],
    )
    if reported:
        assert tokens == REPORTED
    else:
        assert tokens != REPORTED and min(tokens) > 0  # counted by the gateway


@pytest.mark.parametrize("preset", preset_wire.PRESET_MODELS)
async def test_keys_are_sent_only_where_the_upstream_takes_one(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, preset: str
) -> None:
    model = f"{preset}-{preset_wire.PRESET_MODELS[preset][0]}"
    r = await chat.post("/api/chat/completions", json={"model": model, "messages": HELLO})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == TEXT
    headers = fake_upstream.last(model)["headers"]
    if preset in preset_wire.NO_KEY:
        assert "authorization" not in headers
    else:
        assert headers["authorization"] == f"Bearer sk-fake-{preset}"


async def test_vllm_gets_no_stream_options_without_a_stream(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    body = {"model": "vllm-plain", "messages": HELLO, "stream_options": {"include_usage": True}}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert "stream_options" not in fake_upstream.last("vllm-plain")["body"]


async def test_groq_usage_is_read_from_x_groq(chat: httpx.AsyncClient, gw_portal: Portal) -> None:
    body = {"model": "groq-plain", "messages": HELLO, "stream": True}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200
    row = await only_usage(gw_portal)
    assert (row.prompt_tokens, row.completion_tokens) == REPORTED


async def test_openrouter_asks_for_usage_and_sends_its_app_headers(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    body = {"model": "openrouter-plain", "messages": HELLO, "stream": True}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200
    seen = fake_upstream.last("openrouter-plain")
    assert seen["body"]["usage"] == {"include": True}
    for name, value in OPENROUTER_HEADERS.items():
        assert seen["headers"][name.lower()] == value


@pytest.mark.parametrize("stream", [False, True])
async def test_deepseek_reasoning_comes_beside_the_answer(
    chat: httpx.AsyncClient, stream: bool
) -> None:
    body = {"model": "deepseek-reasoner", "messages": HELLO, "stream": stream}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    if stream:
        deltas = [c["choices"][0]["delta"] for c in sse_data(r.text)[:-1] if c["choices"]]
        text = "".join(d.get("content") or "" for d in deltas)
        thought = "".join(d.get("reasoning_content") or "" for d in deltas)
    else:
        message = r.json()["choices"][0]["message"]
        text, thought = message["content"], message["reasoning_content"]
    assert (text, thought) == (TEXT, "".join(REASONING))


@pytest.mark.parametrize("stream", [False, True])
async def test_deepseek_reasoning_is_not_an_anthropic_answer(
    chat: httpx.AsyncClient, stream: bool
) -> None:
    body = {"model": "deepseek-reasoner", "max_tokens": 64, "messages": HELLO, "stream": stream}
    r = await chat.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    assert "greet back" not in r.text
    if not stream:
        assert r.json()["content"] == [{"type": "text", "text": TEXT}]


async def test_mistral_gets_its_own_field_names(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    body = {
        "model": "mistral-plain",
        "messages": [{"role": "user", "content": "Hello", "name": "ann"}],
        "seed": 7,
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = await chat.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert streamed_text(r.text) == TEXT
    sent = fake_upstream.last("mistral-plain")["body"]
    assert sent["random_seed"] == 7
    assert not {"seed", "user", "stream_options"} & set(sent)


async def test_mistral_tool_round_trip_with_ids_from_elsewhere(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    first = {"model": "mistral-tool", "messages": HELLO, "tools": [WEATHER_TOOL]}
    first["tool_choice"] = "required"
    r = await chat.post("/v1/chat/completions", json=first)
    assert r.status_code == 200, r.text
    assert fake_upstream.last("mistral-tool")["body"]["tool_choice"] == "any"
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == MISTRAL_CALL_ID
    # An earlier turn answered by another provider, with its own kind of id, then Mistral's.
    fn = {"name": "get_weather", "arguments": '{"location": "Athens"}'}
    elsewhere = {"id": "call_athens_0001", "type": "function", "function": fn}
    history = [
        *HELLO,
        {"role": "assistant", "content": None, "tool_calls": [elsewhere]},
        {"role": "tool", "tool_call_id": "call_athens_0001", "content": "31 C"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{k: call[k] for k in ("id", "type", "function")}],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "18 C"},
    ]
    for stream in (False, True):
        body = {"model": "mistral-tool", "messages": history, "tools": [WEATHER_TOOL]}
        body["stream"] = stream
        r = await chat.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        answer = streamed_text(r.text) if stream else r.json()["choices"][0]["message"]["content"]
        assert answer == TEXT
    sent = fake_upstream.last("mistral-tool")["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"] != "call_athens_0001"
    assert sent[3]["tool_calls"][0]["id"] == sent[4]["tool_call_id"] == MISTRAL_CALL_ID


async def test_mistral_tool_call_in_anthropic_format(chat: httpx.AsyncClient) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    body = {"model": "mistral-tool", "max_tokens": 64, "messages": HELLO, "tools": [tool]}
    r = await chat.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    use = [b for b in r.json()["content"] if b["type"] == "tool_use"][0]
    other = "toolu_01A09q90qw90lq917835lq9"  # an id Anthropic made, earlier in the chat
    result = {"type": "tool_result", "tool_use_id": other, "content": "18 C"}
    earlier = {"type": "tool_use", "id": other, "name": "get_weather", "input": {}}
    history = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": [earlier]},
        {"role": "user", "content": [result]},
        {"role": "assistant", "content": [use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "18 C"}],
        },
    ]
    r = await chat.post("/v1/messages", json={**body, "messages": history})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == [{"type": "text", "text": TEXT}]


async def test_an_upstream_rejection_stays_a_clear_400(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    """What a quirk the portal does not smooth over looks like: the upstream's own words."""
    bad = {"role": "tool", "tool_call_id": MISTRAL_CALL_ID, "content": "18 C"}
    body = {"model": "mistral-tool", "messages": [*HELLO, bad], "tools": [WEATHER_TOOL]}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 400
    reason = f"Tool call id {MISTRAL_CALL_ID} answers no tool call"
    assert r.json() == {"error": f"Upstream rejected the request: {reason}"}
    assert (await only_usage(gw_portal)).http_status == 400


# -- the request translation, without an upstream ---------------------------------------------


def _body(preset: str | None, req: ChatRequest, stream: bool = True) -> dict[str, Any]:
    cfg = ProviderConfig(id="p", type="openai", base_url="http://127.0.0.1:9/v1", preset=preset)
    model = type("M", (), {"wire_name": "m"})()
    return OpenAIProvider(cfg)._body(req, model, stream)  # type: ignore[arg-type]


def _tool_request() -> ChatRequest:
    call = ToolCall(id="functions.get_weather:0", name="get_weather", arguments="{}")
    return ChatRequest(
        model="m",
        messages=[
            Message(role="system", content=[TextPart("Be brief")], name="sys"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", content=[TextPart("18 C")], tool_call_id=call.id, name="w"),
        ],
        tool_choice=ToolChoice(mode="required"),
        seed=3,
        user="u",
    )


def test_without_a_preset_the_body_is_plain_openai() -> None:
    body = _body(None, _tool_request())
    assert body["stream_options"] == {"include_usage": True}
    assert (body["tool_choice"], body["seed"], body["user"]) == ("required", 3, "u")
    assert body["messages"][1]["tool_calls"][0]["id"] == "functions.get_weather:0"
    assert body["messages"][0]["name"] == "sys"


def test_mistral_body() -> None:
    body = _body("mistral", _tool_request())
    assert "stream_options" not in body and "user" not in body and "seed" not in body
    assert (body["tool_choice"], body["random_seed"]) == ("any", 3)
    call_id = body["messages"][1]["tool_calls"][0]["id"]
    assert (
        call_id == body["messages"][2]["tool_call_id"] == mistral_tool_id("functions.get_weather:0")
    )
    assert len(call_id) == 9 and call_id.isalnum()
    assert "name" not in body["messages"][0] and body["messages"][2]["name"] == "w"


def test_mistral_ids_are_stable_and_its_own_pass_through() -> None:
    assert mistral_tool_id(MISTRAL_CALL_ID) == MISTRAL_CALL_ID
    ids = {mistral_tool_id(f"call_{i}") for i in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 9 and i.isalnum() for i in ids)
    assert mistral_tool_id("call_1") == mistral_tool_id("call_1")


def test_ollama_body_streams_with_usage_asked() -> None:
    body = _body("ollama", _tool_request())
    assert body["stream_options"] == {"include_usage": True}  # honoured since Ollama 0.5.2
    assert json.dumps(body).count("functions.get_weather:0") == 2


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_both_names_of_reasoning_are_read_apart_from_the_text(key: str) -> None:
    parser = StreamParser()
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": None, key: "Hmm."}}]}
    events = [*parser.feed(chunk), *parser.close()]
    assert [e for e in events if isinstance(e, ReasoningDelta | TextDelta)] == [
        ReasoningDelta("Hmm.")
    ]


async def test_counted_usage_bills_the_reasoning(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    for model in ("llamacpp-server-plain", "llamacpp-server-reasoner"):
        body = {"model": model, "messages": HELLO, "stream": True}
        assert (await chat.post("/v1/chat/completions", json=body)).status_code == 200
    plain, reasoner = await usage_rows(gw_portal)
    assert plain.prompt_tokens == reasoner.prompt_tokens
    assert reasoner.completion_tokens > plain.completion_tokens

"""The official openai SDK against a real portal process: plain, streaming and tool calls on
both provider types (the fake upstream and llm-katan), the local model, and every error."""

from __future__ import annotations

import json
import os
import signal
import time

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import TEXT, FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
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
# (model, provider type, upstream): the same client code against each.
UPSTREAMS = ["oa-plain", "an-plain", "katan-oa", "katan-an"]


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


@pytest.mark.parametrize("model", UPSTREAMS)
def test_plain(client: openai.OpenAI, server: PortalServer, model: str) -> None:
    resp = client.chat.completions.create(model=model, messages=HELLO, max_tokens=60)  # type: ignore[arg-type]
    content = resp.choices[0].message.content or ""
    assert content == TEXT if "katan" not in model else "Hello there" in content
    assert resp.model == model
    assert resp.usage is not None and resp.usage.total_tokens > 0
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["stream"]) == (model, "success", 0)
    assert row["prompt_tokens"] == resp.usage.prompt_tokens


@pytest.mark.parametrize("model", UPSTREAMS)
def test_streaming(client: openai.OpenAI, server: PortalServer, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=HELLO,  # type: ignore[arg-type]
        max_tokens=60,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert len(pieces) > 1
    assert "Hello" in "".join(pieces)
    assert usage is not None and usage.completion_tokens > 0
    (row,) = server.usage(1)
    assert (row["status"], row["stream"], row["completion_tokens"]) == (
        "success",
        1,
        usage.completion_tokens,
    )


@pytest.mark.parametrize("model", ["oa-parallel", "an-parallel", "katan-oa", "katan-an"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(client: openai.OpenAI, model: str, stream: bool) -> None:
    kwargs = {"model": model, "messages": HELLO, "tools": [WEATHER], "max_tokens": 60}
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(**kwargs, stream=True):  # type: ignore[call-overload]
            if not chunk.choices:
                continue
            finish = chunk.choices[0].finish_reason or finish
            for tc in chunk.choices[0].delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"name": "", "arguments": ""})
                if tc.function and tc.function.name:
                    call["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
        got = [calls[i] for i in sorted(calls)]
    else:
        resp = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        finish = resp.choices[0].finish_reason
        got = [
            {"name": c.function.name, "arguments": c.function.arguments}
            for c in resp.choices[0].message.tool_calls or []
        ]
    assert finish == "tool_calls"
    expected = 1 if "katan" in model else 2
    assert [c["name"] for c in got] == ["get_weather"] * expected
    args = [json.loads(c["arguments"]) for c in got]
    assert all("location" in a for a in args)
    if "parallel" in model:
        assert [a["location"] for a in args] == ["Athens, Greece", "London, United Kingdom"]


def test_tool_result_conversation(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="an-tool", messages=HELLO, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    call = (first.choices[0].message.tool_calls or [])[0]
    messages = [
        *HELLO,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 18}'},
    ]
    follow = client.chat.completions.create(model="an-plain", messages=messages, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert follow.choices[0].message.content == TEXT


def test_local_model(client: openai.OpenAI, server: PortalServer) -> None:
    local = "SmolLM2-135M-Instruct"
    resp = client.chat.completions.create(model=local, messages=HELLO, max_tokens=8)  # type: ignore[arg-type]
    assert resp.choices[0].message.content
    assert resp.usage is not None and 1 <= resp.usage.completion_tokens <= 8
    pieces = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model=local,
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=8,
            stream=True,
        )
        if c.choices
    ]
    assert len([p for p in pieces if p]) >= 1
    rows = server.usage(2)
    assert [(r["provider"], r["status"]) for r in rows] == [("local", "success")] * 2


def test_a_crash_of_the_local_model_is_contained(
    client: openai.OpenAI, server: PortalServer
) -> None:
    """llama.cpp dies by SIGSEGV mid-stream: the client gets an error, the usage row says so,
    and the same server process answers the next request with a fresh model worker."""
    local = "SmolLM2-135M-Instruct"
    long = [{"role": "user", "content": "Count from one to one hundred, one number per line."}]
    pieces = []
    worker = None
    with pytest.raises(openai.APIError, match="crashed"):
        for chunk in client.chat.completions.create(
            model=local,
            messages=long,  # type: ignore[arg-type]
            max_tokens=400,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                if worker is None:
                    worker = server.model_worker_pid()
                    os.kill(worker, signal.SIGSEGV)
    assert pieces
    (row,) = server.usage(1)
    assert (row["provider"], row["status"], row["http_status"]) == ("local", "error", 502)
    assert "SIGSEGV" in row["error"]
    resp = client.chat.completions.create(model=local, messages=HELLO, max_tokens=4)  # type: ignore[arg-type]
    assert resp.choices[0].message.content
    assert server.model_worker_pid() != worker
    assert os.path.exists(f"/proc/{server.pid}")


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "SmolLM2-135M-Instruct" in ids and "katan-oa" in ids


def test_unknown_model(client: openai.OpenAI, server: PortalServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=HELLO)  # type: ignore[arg-type]
    # The SDK unwraps the portal's {"error": "..."} body to its message.
    assert caught.value.body == "Model 'gpt-nope' not found"
    assert [(r["http_status"], r["model"]) for r in server.usage(1)] == [(404, "gpt-nope")]


def test_malformed_messages_and_bad_tool_schema(
    client: openai.OpenAI, server: PortalServer
) -> None:
    with pytest.raises(openai.BadRequestError) as bad_role:
        client.chat.completions.create(
            model="oa-plain", messages=[{"role": "robot", "content": "x"}]
        )  # type: ignore[arg-type,misc,list-item]
    assert "role" in str(bad_role.value.body)
    bad_tool = {"type": "function", "function": {"name": "f", "parameters": "not a schema"}}
    with pytest.raises(openai.BadRequestError) as bad_schema:
        client.chat.completions.create(model="oa-plain", messages=HELLO, tools=[bad_tool])  # type: ignore[arg-type,list-item]
    assert "parameters" in str(bad_schema.value.body)
    assert [r["http_status"] for r in server.usage(2)] == [400, 400]


@pytest.mark.parametrize(
    ("model", "status"), [("oa-error500", 502), ("an-error429", 502), ("oa-error400", 400)]
)
def test_upstream_errors(
    client: openai.OpenAI, server: PortalServer, model: str, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    assert "fake upstream" in str(caught.value.body)
    assert [r["http_status"] for r in server.usage(1)] == [status]


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_timeout_is_504(client: openai.OpenAI, server: PortalServer, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="an-slow", messages=HELLO, stream=stream)  # type: ignore[call-overload]
    assert caught.value.status_code == 504
    assert [r["http_status"] for r in server.usage(1)] == [504]


@pytest.mark.parametrize("model", ["oa-cut", "an-midstream"])
def test_mid_stream_failure_raises_in_the_sdk(
    client: openai.OpenAI, server: PortalServer, model: str
) -> None:
    pieces = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model=model, messages=HELLO, stream=True):  # type: ignore[call-overload]
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces  # some text arrived before the failure
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["stream"]) == ("error", 502, 1)


def test_client_disconnect_closes_the_upstream(
    client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.disconnects.clear()
    stream = client.chat.completions.create(model="oa-drip", messages=HELLO, stream=True)  # type: ignore[arg-type]
    received = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    stream.close()
    deadline = time.monotonic() + 5
    while "drip" not in fake_upstream.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "drip" in fake_upstream.disconnects
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["error"]) == (
        "error",
        499,
        "Client disconnected",
    )

"""The official anthropic SDK against a real portal process (/v1/messages): plain, streaming and
tool use on both provider types, the local model, and the errors."""

from __future__ import annotations

import time

import anthropic
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import TEXT, FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
UPSTREAMS = ["oa-plain", "an-plain", "katan-oa", "katan-an"]


@pytest.fixture
def client(anthropic_client: anthropic.Anthropic) -> anthropic.Anthropic:
    return anthropic_client


@pytest.mark.parametrize("model", UPSTREAMS)
def test_plain(client: anthropic.Anthropic, server: PortalServer, model: str) -> None:
    msg = client.messages.create(model=model, max_tokens=60, messages=HELLO)  # type: ignore[arg-type]
    assert msg.type == "message" and msg.role == "assistant"
    text = "".join(b.text for b in msg.content if b.type == "text")
    assert text == TEXT if "katan" not in model else "Hello there" in text
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["output_cost_micros"]) == (model, "success", 0)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_streaming(client: anthropic.Anthropic, server: PortalServer, model: str) -> None:
    with client.messages.stream(model=model, max_tokens=60, messages=HELLO) as stream:  # type: ignore[arg-type]
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "Hello" in "".join(pieces)
    assert final.usage.output_tokens > 0
    (row,) = server.usage(1)
    assert (row["status"], row["stream"], row["completion_tokens"]) == (
        "success",
        1,
        final.usage.output_tokens,
    )


@pytest.mark.parametrize("model", ["oa-parallel", "an-parallel", "katan-oa", "katan-an"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use(client: anthropic.Anthropic, model: str, stream: bool) -> None:
    kwargs = {"model": model, "max_tokens": 60, "messages": HELLO, "tools": [WEATHER]}
    if stream:
        with client.messages.stream(**kwargs) as s:  # type: ignore[arg-type]
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**kwargs)  # type: ignore[arg-type]
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather"] * (1 if "katan" in model else 2)
    assert all("location" in u.input for u in uses)  # type: ignore[operator]
    if "parallel" in model:
        assert [u.input["location"] for u in uses] == ["Athens, Greece", "London, United Kingdom"]  # type: ignore[index]
        assert len({u.id for u in uses}) == 2


def test_tool_result_conversation(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model="oa-tool", max_tokens=60, messages=HELLO, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    use = next(b for b in first.content if b.type == "tool_use")
    messages = [
        *HELLO,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}],
        },
    ]
    follow = client.messages.create(
        model="oa-plain",
        max_tokens=60,
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert follow.content[0].type == "text" and follow.content[0].text == TEXT


def test_local_model(client: anthropic.Anthropic, server: PortalServer) -> None:
    local = "SmolLM2-135M-Instruct"
    msg = client.messages.create(
        model=local,
        max_tokens=8,
        system="You are brief.",
        messages=HELLO,  # type: ignore[arg-type]
    )
    assert msg.content[0].type == "text" and msg.content[0].text
    assert 1 <= msg.usage.output_tokens <= 8
    with client.messages.stream(model=local, max_tokens=8, messages=HELLO) as stream:  # type: ignore[arg-type]
        assert "".join(stream.text_stream)
    assert [r["provider"] for r in server.usage(2)] == ["local", "local"]


def test_unknown_model(client: anthropic.Anthropic, server: PortalServer) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-nope", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert "Model 'claude-nope' not found" in str(caught.value.body)
    assert [r["http_status"] for r in server.usage(1)] == [404]


def test_bad_tool_schema(client: anthropic.Anthropic, server: PortalServer) -> None:
    bad = {"name": "f", "input_schema": "not a schema"}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="an-plain", max_tokens=5, messages=HELLO, tools=[bad])  # type: ignore[arg-type,list-item]
    assert "input_schema" in str(caught.value.body)
    assert [r["http_status"] for r in server.usage(1)] == [400]


@pytest.mark.parametrize(
    ("model", "status"), [("an-error500", 502), ("oa-error429", 502), ("an-error400", 400)]
)
def test_upstream_errors(
    client: anthropic.Anthropic, server: PortalServer, model: str, status: int
) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=model, max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    assert "fake upstream" in str(caught.value.body)
    assert [r["http_status"] for r in server.usage(1)] == [status]


def test_upstream_timeout_is_504(client: anthropic.Anthropic, server: PortalServer) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model="oa-slow", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 504
    assert [r["http_status"] for r in server.usage(1)] == [504]


@pytest.mark.parametrize("model", ["an-cut", "oa-midstream"])
def test_mid_stream_failure_raises_in_the_sdk(
    client: anthropic.Anthropic, server: PortalServer, model: str
) -> None:
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIError),
        client.messages.stream(model=model, max_tokens=60, messages=HELLO) as stream,  # type: ignore[arg-type]
    ):
        for text in stream.text_stream:
            pieces.append(text)
    assert pieces
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"]) == ("error", 502)


def test_client_disconnect_closes_the_upstream(
    client: anthropic.Anthropic, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.disconnects.clear()
    with client.messages.stream(model="an-drip", max_tokens=60, messages=HELLO) as stream:  # type: ignore[arg-type]
        for i, _text in enumerate(stream.text_stream):
            if i == 2:
                break
    deadline = time.monotonic() + 5
    while "drip" not in fake_upstream.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "drip" in fake_upstream.disconnects
    (row,) = server.usage(1)
    assert (row["http_status"], row["error"]) == (499, "Client disconnected")


def test_count_tokens(client: anthropic.Anthropic, server: PortalServer) -> None:
    """messages.count_tokens as the SDK sends it; free, so no usage row."""
    short = client.messages.count_tokens(model="an-plain", messages=HELLO)  # type: ignore[arg-type]
    more = client.messages.count_tokens(
        model="an-plain",
        system="Answer in one word.",
        messages=HELLO,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert 0 < short.input_tokens < more.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="nope", messages=HELLO)  # type: ignore[arg-type]
    assert server.usage(0, within_s=0.5) == []

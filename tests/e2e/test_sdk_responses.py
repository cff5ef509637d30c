"""The official openai SDK's Responses API (`client.responses`) against a real portal process:
text, streaming with the SDK's event iterator, a tool round trip, on the OpenAI and Anthropic
provider types (the fake upstream and llm-katan) and the local model, and the errors."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import TEXT, FakeUpstream

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a given location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
UPSTREAMS = ["oa-plain", "an-plain", "katan-oa", "katan-an"]
LOCAL = "SmolLM2-135M-Instruct"


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


def _text_of(model: str, text: str) -> None:
    assert text == TEXT if "katan" not in model else "Hello there" in text


@pytest.mark.parametrize("model", UPSTREAMS)
def test_text(client: openai.OpenAI, server: PortalServer, model: str) -> None:
    resp = client.responses.create(
        model=model, input="Hello there", instructions="Be brief.", max_output_tokens=60
    )
    _text_of(model, resp.output_text)
    assert resp.id.startswith("resp_") and resp.status == "completed"
    assert resp.model == model and resp.instructions == "Be brief."
    assert resp.usage is not None and resp.usage.total_tokens > 0
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["stream"]) == (model, "success", 0)
    assert row["prompt_tokens"] == resp.usage.input_tokens


def test_instructions_reach_the_upstream_as_its_system_prompt(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    client.responses.create(model="an-plain", input="Hi", instructions="Be brief.")
    sent = fake_upstream.last("plain")["body"]
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_streaming_with_the_sdk_event_iterator(
    client: openai.OpenAI, server: PortalServer, model: str
) -> None:
    kinds, pieces = [], []
    final = None
    with client.responses.stream(model=model, input="Hello there", max_output_tokens=60) as s:
        for event in s:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                pieces.append(event.delta)
        final = s.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert len(pieces) > 1
    _text_of(model, "".join(pieces))
    assert final.output_text == "".join(pieces)
    assert final.usage is not None and final.usage.output_tokens > 0
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["stream"]) == (model, "success", 1)


def test_raw_stream_events_are_numbered_in_order(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="oa-plain", input="Hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == TEXT


@pytest.mark.parametrize("model", ["oa-parallel", "an-parallel", "katan-oa", "katan-an"])
@pytest.mark.parametrize("stream", [False, True])
def test_function_calls(client: openai.OpenAI, model: str, stream: bool) -> None:
    kwargs: dict[str, Any] = {"model": model, "input": "Hello there", "tools": [WEATHER]}
    if stream:
        with client.responses.stream(**kwargs) as s:
            deltas = [e.delta for e in s if e.type == "response.function_call_arguments.delta"]
            resp = s.get_final_response()
        assert deltas
    else:
        resp = client.responses.create(**kwargs)
    calls = [item for item in resp.output if item.type == "function_call"]
    expected = 1 if "katan" in model else 2
    assert [c.name for c in calls] == ["get_weather"] * expected
    args = [json.loads(c.arguments) for c in calls]
    assert all("location" in a for a in args)
    assert len({c.call_id for c in calls}) == expected
    if "parallel" in model:
        assert [a["location"] for a in args] == ["Athens, Greece", "London, United Kingdom"]


@pytest.mark.parametrize(
    ("first_model", "then"), [("oa-parallel", "plain"), ("an-parallel", "plain")]
)
def test_tool_round_trip(
    client: openai.OpenAI, fake_upstream: FakeUpstream, first_model: str, then: str
) -> None:
    """The SDK's own output items go back as input with the function outputs; the upstream
    receives one assistant turn with both calls and a result for each."""
    first = client.responses.create(model=first_model, input="Weather?", tools=[WEATHER])  # type: ignore[list-item]
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 2
    history: list[object] = [{"role": "user", "content": "Weather?"}, *first.output]
    for call in calls:
        history.append(
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 18}'}
        )
    follow = client.responses.create(
        model=f"{first_model[:2]}-{then}",
        input=history,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert follow.output_text == TEXT
    sent = fake_upstream.last(then)["body"]
    if first_model.startswith("oa"):
        assistant = sent["messages"][1]
        assert [c["id"] for c in assistant["tool_calls"]] == [c.call_id for c in calls]
        results = [m for m in sent["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in results] == [c.call_id for c in calls]
    else:
        assistant = sent["messages"][1]
        uses = [b["id"] for b in assistant["content"] if b["type"] == "tool_use"]
        assert uses == [c.call_id for c in calls]
        results = [b["tool_use_id"] for b in sent["messages"][2]["content"]]
        assert results == [c.call_id for c in calls]


def test_local_model(client: openai.OpenAI, server: PortalServer) -> None:
    resp = client.responses.create(model=LOCAL, input="Hello there", max_output_tokens=8)
    assert resp.output_text
    assert resp.usage is not None and 1 <= resp.usage.output_tokens <= 8
    # Eight tokens are usually not the whole answer: then the stream ends, as OpenAI's does,
    # with response.incomplete (the SDK's get_final_response() wants response.completed).
    events = list(
        client.responses.create(model=LOCAL, input="Hi", max_output_tokens=8, stream=True)
    )
    pieces = [e.delta for e in events if e.type == "response.output_text.delta"]
    last = events[-1]
    assert last.type in ("response.completed", "response.incomplete")
    assert pieces and last.response.output_text == "".join(pieces)
    rows = server.usage(2)
    assert [(r["provider"], r["status"]) for r in rows] == [("local", "success")] * 2


def test_max_output_tokens_reached_is_incomplete(client: openai.OpenAI) -> None:
    resp = client.responses.create(model=LOCAL, input="Tell me a long story", max_output_tokens=2)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"


def test_previous_response_id_is_refused(client: openai.OpenAI, server: PortalServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="oa-plain", input="Hi", previous_response_id="resp_123")
    assert "previous_response_id" in str(caught.value.body)
    assert "stateless" in str(caught.value.body)
    assert [r["http_status"] for r in server.usage(1)] == [400]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "file_search_call"}]}, "input[0].type"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"input": []}, "input"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ],
)
def test_bad_bodies_name_the_field(client: openai.OpenAI, body: dict[str, Any], field: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="oa-plain", **body)
    assert str(caught.value.body).startswith(field)


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-nope", input="Hi")


@pytest.mark.parametrize(("model", "status"), [("oa-error500", 502), ("an-slow", 504)])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failures(
    client: openai.OpenAI, server: PortalServer, model: str, status: int, stream: bool
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(model=model, input="Hi", stream=stream)
    assert caught.value.status_code == status
    assert [r["http_status"] for r in server.usage(1)] == [status]


@pytest.mark.parametrize("model", ["oa-cut", "an-midstream"])
def test_mid_stream_failure_raises_in_the_sdk(
    client: openai.OpenAI, server: PortalServer, model: str
) -> None:
    pieces = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(model=model, input="Hi", stream=True):
            if event.type == "response.output_text.delta":
                pieces.append(event.delta)
    assert pieces
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["stream"]) == ("error", 502, 1)

"""The `openai` type's presets through a real portal process and the openai SDK, each against
a fake upstream with that upstream's quirks (tests/fixtures/preset_wire.py)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.preset_wire import MISTRAL_CALL_ID, REASONING, STREAMS, TEXT, USAGE
from tests.fixtures.preset_wire import WEATHER_TOOL as WEATHER
from tests.fixtures.upstreams import FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.mark.parametrize(("model", "reported"), STREAMS.items())
def test_a_stream_per_preset(
    openai_client: openai.OpenAI, server: PortalServer, model: str, reported: bool
) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model=model,
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    [row] = server.usage(1)
    assert (row["model"], row["provider"], row["status"], row["stream"]) == (
        model,
        f"fake-{model.rsplit('-', 1)[0]}",
        "success",
        1,
    )
    tokens = (row["prompt_tokens"], row["completion_tokens"])
    assert tokens == (usage.prompt_tokens, usage.completion_tokens)
    if reported:
        assert tokens == (USAGE["prompt_tokens"], USAGE["completion_tokens"])
    else:
        assert min(tokens) > 0


def test_deepseek_reasoning_arrives_beside_the_answer(openai_client: openai.OpenAI) -> None:
    resp = openai_client.chat.completions.create(model="deepseek-reasoner", messages=HELLO)  # type: ignore[arg-type]
    message = resp.choices[0].message
    assert (message.content, (message.model_extra or {}).get("reasoning_content")) == (
        TEXT,
        "".join(REASONING),
    )
    chunks = openai_client.chat.completions.create(
        model="deepseek-reasoner",
        messages=HELLO,  # type: ignore[arg-type]
        stream=True,
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == TEXT
    thought = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert thought == "".join(REASONING)


def test_a_mistral_tool_round_trip(
    openai_client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream
) -> None:
    first = openai_client.chat.completions.create(
        model="mistral-tool",
        messages=HELLO,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
    )
    [call] = first.choices[0].message.tool_calls or []
    assert call.id == MISTRAL_CALL_ID and json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert fake_upstream.last("mistral-tool")["body"]["tool_choice"] == "any"
    history = [
        *HELLO,
        {  # a turn another provider answered, with its own kind of id
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_9f8e7d6c5b4a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9f8e7d6c5b4a", "content": "24 C"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 C"},
    ]
    chunks = openai_client.chat.completions.create(
        model="mistral-tool",
        messages=history,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    sent = fake_upstream.last("mistral-tool")["body"]
    assert "stream_options" not in sent
    messages = sent["messages"]
    ids = [m.get("tool_call_id") or m.get("tool_calls", [{}])[0].get("id") for m in messages]
    assert ids[1] == ids[2] != "call_9f8e7d6c5b4a" and ids[3] == ids[4] == MISTRAL_CALL_ID
    assert [r["status"] for r in server.usage(2)] == ["success", "success"]

"""The `bedrock` provider's translation and plumbing, without a portal: Converse bodies from the
internal request, answers and stream events back, the event stream read in any chunking, the
endpoint and credentials from configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.bedrock import BedrockProvider, static_credentials
from llmportal.gateway.providers.bedrock_wire import StreamParser, build_request, parse_response
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.types import (
    ChatRequest,
    Finish,
    ImagePart,
    Message,
    Start,
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
from tests.fixtures import bedrock_wire as fake_bedrock

WEATHER = Tool(name="get_weather", description=None, parameters={"type": "object"})
HISTORY = [
    Message(role="user", content=[TextPart("Weather?")]),
    Message(role="assistant", tool_calls=[ToolCall("t1", "get_weather", '{"city": "Oslo"}')]),
    Message(role="tool", content=[TextPart("cold")], tool_call_id="t1"),
]


def _cfg(**extra: Any) -> ProviderConfig:
    return ProviderConfig(id="br", type="bedrock", aws_region="eu-west-1", **extra)


def _request(**extra: Any) -> ChatRequest:
    return ChatRequest(
        model="m", messages=[Message(role="user", content=[TextPart("Hi")])], **extra
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        (ToolChoice("auto"), {"auto": {}}),
        (ToolChoice("required"), {"any": {}}),
        (ToolChoice("tool", "get_weather"), {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: ToolChoice | None, expected: dict[str, Any] | None) -> None:
    config = build_request(_request(tools=[WEATHER], tool_choice=choice))["toolConfig"]
    assert config["tools"] == [
        {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}
    ]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_sends_no_tools_unless_the_history_has_tool_blocks() -> None:
    none = ToolChoice("none")
    assert "toolConfig" not in build_request(_request(tools=[WEATHER], tool_choice=none))
    with_history = ChatRequest(model="m", messages=HISTORY, tools=[WEATHER], tool_choice=none)
    config = build_request(with_history)["toolConfig"]
    assert "toolChoice" not in config and len(config["tools"]) == 1


def test_messages_of_one_role_merge_and_blank_text_is_left_out() -> None:
    messages = [
        Message(role="system", content=[TextPart("Be brief.")]),
        *HISTORY,
        Message(role="user", content=[TextPart("  "), TextPart("And tomorrow?")]),
    ]
    body = build_request(ChatRequest(model="m", messages=messages))
    assert body["system"] == [{"text": "Be brief."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "cold"}]}},
                {"text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com/a.png", "only inline"),
        ("data:image/bmp;base64,AAAA", "png, jpeg, gif or webp"),
    ],
)
def test_images_bedrock_cannot_take_are_refused(url: str, message: str) -> None:
    req = ChatRequest(model="m", messages=[Message(role="user", content=[ImagePart(url)])])
    with pytest.raises(UpstreamRejected, match=message) as caught:
        build_request(req)
    assert caught.value.status == 400


def test_jpg_is_sent_as_jpeg() -> None:
    req = ChatRequest(
        model="m",
        messages=[Message(role="user", content=[ImagePart("data:image/jpg;base64,QQ==")])],
    )
    block = build_request(req)["messages"][0]["content"][0]
    assert block == {"image": {"format": "jpeg", "source": {"bytes": "QQ=="}}}


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
    ],
)
def test_stop_reasons(stop: str, reason: str) -> None:
    answer = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": stop}
    assert parse_response(answer).finish_reason == reason


def test_an_answer_with_text_and_a_tool_call() -> None:
    content = [{"text": "Let me look."}, {"toolUse": {"toolUseId": "t9", "name": "f", "input": {}}}]
    answer = {
        "output": {"message": {"content": content}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 3, "outputTokens": 4},
    }
    resp = parse_response(answer)
    assert (resp.content, resp.tool_calls) == ("Let me look.", [ToolCall("t9", "f", "{}")])
    assert resp.usage == Usage(3, 4)


def test_stream_events_number_tool_calls_apart_from_text_blocks() -> None:
    parser = StreamParser()
    events = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Sure."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a"'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ": 1}"}}}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 7}}),
    ]
    out = [e for kind, body in events for e in parser.feed(kind, body)]
    assert isinstance(out[0], Start)
    assert out[1:] == [
        TextDelta("Sure."),
        ToolCallStart(index=0, id="t", name="f"),
        ToolCallDelta(index=0, arguments='{"a"'),
        ToolCallDelta(index=0, arguments=": 1}"),
        Finish("tool_calls"),
        UsageEvent(Usage(5, 7)),
    ]
    assert parser.stopped


class _Body:
    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    async def iter_any(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i : i + self.size]


class _Response:
    def __init__(self, data: bytes, size: int) -> None:
        self.content = _Body(data, size)


@pytest.mark.parametrize("size", [1, 7, 100_000])
async def test_the_event_stream_is_decoded_in_any_chunking(size: int) -> None:
    provider = BedrockProvider(_cfg(base_url="http://127.0.0.1:1"))
    wire = b"".join(fake_bedrock.converse_stream("midstream"))
    got: list[tuple[str | None, bytes]] = []
    with pytest.raises(UpstreamError, match="modelStreamErrorException: fake upstream overloaded"):
        async for item in provider._events(_Response(wire, size)):  # type: ignore[arg-type]
            got.append(item)
    assert [kind for kind, _ in got] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    assert b'"Hello"' in got[1][1]


async def test_a_corrupt_event_stream_is_a_malformed_answer() -> None:
    provider = BedrockProvider(_cfg(base_url="http://127.0.0.1:1"))
    wire = bytearray(fake_bedrock.event("messageStart", {"role": "assistant"}))
    wire[-1] ^= 0xFF  # the message CRC no longer matches
    with pytest.raises(UpstreamError, match="malformed"):
        async for _ in provider._events(_Response(bytes(wire), 64)):  # type: ignore[arg-type]
            pass


def test_the_endpoint_defaults_to_the_region_and_quotes_the_model_id() -> None:
    provider = BedrockProvider(_cfg())
    model = ModelConfig(
        id="claude",
        provider="br",
        upstream_model="arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x:0",
    )
    assert provider.endpoint(model, stream=True) == (
        "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
        "arn:aws:bedrock:eu-west-1:1:inference-profile%2Feu.x:0/converse-stream"
    )


def test_bedrock_needs_a_region() -> None:
    with pytest.raises(ValidationError, match="needs aws_region"):
        ProviderConfig(id="br", type="bedrock")


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BR_KEY", "AKIDENV")
    monkeypatch.setenv("BR_SECRET", "env-secret")
    monkeypatch.setenv("BR_TOKEN", "env-token")
    creds = static_credentials(
        _cfg(
            aws_access_key_id_env="BR_KEY",
            aws_secret_access_key_env="BR_SECRET",
            aws_session_token_env="BR_TOKEN",
        )
    )
    assert creds is not None
    assert (creds.access_key, creds.secret_key, creds.token) == (
        "AKIDENV",
        "env-secret",
        "env-token",
    )
    assert static_credentials(_cfg(aws_access_key_id="only-a-key")) is None  # the default chain


async def test_a_session_token_is_signed_in() -> None:
    provider = BedrockProvider(
        _cfg(aws_access_key_id="AKID", aws_secret_access_key="s", aws_session_token="tok")
    )
    headers = await provider.signer.headers("https://h.example/model/m/converse", b"{}", "x/y")
    assert headers["X-Amz-Security-Token"] == "tok"
    assert "x-amz-security-token" in headers["Authorization"]
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")

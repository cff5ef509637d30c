"""Anthropic Messages streaming: internal events <-> the Anthropic SSE event sequence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from llmportal.gateway.formats._common import (
    SSE_DONE,
    UpstreamFormatError,
    message_id,
    now,
    sse_data,
    sse_event,
)
from llmportal.gateway.types import (
    Finish,
    FinishReason,
    Start,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from llmportal.jsonio import dumps_str

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
}

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def map_stop_reason(reason: Any) -> FinishReason:
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def usage_input_tokens(usage: dict[str, Any]) -> int:
    """Anthropic counts cached prompt tokens apart; a prompt token is a prompt token."""
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(int(usage.get(k) or 0) for k in keys)


def usage_output_tokens(usage: dict[str, Any]) -> int:
    return int(usage.get("output_tokens") or 0)


def anthropic_id(any_id: str) -> str:
    """Anthropic message ids start with msg_: keep ours recognisable, add the prefix."""
    if any_id.startswith("msg_"):
        return any_id
    return "msg_" + any_id.removeprefix("chatcmpl-") if any_id else message_id()


class _Renderer:
    """The state of one Anthropic stream being written: which content block is open."""

    def __init__(self, input_tokens: int) -> None:
        self.input_tokens = input_tokens
        self.started = False
        self.open_block: int | None = None
        self.open_is_text = False
        self.blocks = 0
        self.tool_blocks: dict[int, int] = {}  # tool call index -> content block index

    def start(self, event: Start) -> bytes:
        self.started = True
        message: dict[str, Any] = {
            "id": anthropic_id(event.id),
            "type": "message",
            "role": "assistant",
            "model": event.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return sse_event("message_start", {"type": "message_start", "message": message})

    def close_block(self) -> bytes:
        if self.open_block is None:
            return b""
        index, self.open_block = self.open_block, None
        return sse_event("content_block_stop", {"type": "content_block_stop", "index": index})

    def open(self, block: dict[str, Any], is_text: bool) -> bytes:
        out = self.close_block()
        self.open_block, self.open_is_text = self.blocks, is_text
        self.blocks += 1
        start = {"type": "content_block_start", "index": self.open_block, "content_block": block}
        return out + sse_event("content_block_start", start)

    def delta(self, index: int, delta: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": index, "delta": delta}
        return sse_event("content_block_delta", body)

    def text(self, text: str) -> bytes:
        out = b""
        if self.open_block is None or not self.open_is_text:
            out = self.open({"type": "text", "text": ""}, True)
        assert self.open_block is not None
        return out + self.delta(self.open_block, {"type": "text_delta", "text": text})

    def tool_start(self, event: ToolCallStart) -> bytes:
        block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
        out = self.open(block, False)
        self.tool_blocks[event.index] = self.blocks - 1
        return out

    def tool_delta(self, event: ToolCallDelta) -> bytes:
        index = self.tool_blocks.get(event.index)
        if index is None:  # arguments for a call never started: nothing to attach them to
            return b""
        return self.delta(index, {"type": "input_json_delta", "partial_json": event.arguments})

    def finish(self, reason: FinishReason, usage: Usage | None) -> bytes:
        out = self.close_block()
        delta = {"stop_reason": STOP_REASONS[reason], "stop_sequence": None}
        tokens = {"output_tokens": usage.completion_tokens if usage else 0}
        if usage is not None:
            tokens["input_tokens"] = usage.prompt_tokens
        body = {"type": "message_delta", "delta": delta, "usage": tokens}
        out += sse_event("message_delta", body)
        return out + sse_event("message_stop", {"type": "message_stop"})


async def render_stream(
    events: AsyncIterator[StreamEvent], *, input_tokens: int = 0
) -> AsyncIterator[bytes]:
    """Internal events -> SSE bytes:
    the Anthropic event sequence (`event: X\\ndata: {...}\\n\\n`).

    message_start carries `input_tokens` (pass the prompt count when known: the real count comes
    with the usage at the end); message_delta carries the final usage, so Finish is held back
    until the UsageEvent arrives or the events end. Text opens a text block, each tool call its
    own tool_use block, in the order they come. If `events` raises, the exception propagates
    and nothing more is written: the caller then sends `render_stream_error(message)`.
    """
    r = _Renderer(input_tokens)
    reason: FinishReason | None = None
    usage: Usage | None = None
    done = False
    async for event in events:
        if not r.started:
            yield r.start(event if isinstance(event, Start) else Start(message_id(), "", now()))
            if isinstance(event, Start):
                continue
        if done:
            continue
        if isinstance(event, TextDelta):
            if event.text:
                yield r.text(event.text)
        elif isinstance(event, ToolCallStart):
            yield r.tool_start(event)
        elif isinstance(event, ToolCallDelta):
            if event.arguments:
                yield r.tool_delta(event)
        elif isinstance(event, Finish):
            reason = reason or event.reason
        elif isinstance(event, UsageEvent):
            usage = event.usage
        if reason is not None and usage is not None:
            done = True
            yield r.finish(reason, usage)
    if not r.started:
        yield r.start(Start(message_id(), "", now()))
    if not done:
        yield r.finish(reason or "stop", usage)


def render_stream_error(message: str) -> bytes:
    """The mid-stream error, which ends the stream: an Anthropic `error` event (the anthropic
    SDK raises on it), then the contract's `data: {"error": {"message": ...}}` and
    `data: [DONE]` (data-only events, which Anthropic clients skip)."""
    error = {"type": "error", "error": {"type": "api_error", "message": message}}
    return sse_event("error", error) + sse_data({"error": {"message": message}}) + SSE_DONE


class StreamParser:
    """Feed it each upstream SSE event payload (parsed JSON, with its "type"); it yields
    internal events: Start (message_start), TextDelta, ToolCallStart/ToolCallDelta (tool calls
    numbered 0, 1, ... in block order), then Finish and UsageEvent (message_delta).
    An `error` event raises UpstreamFormatError. `close()` after the stream ends yields a Finish
    and usage the upstream never sent (a stream cut short after message_start).
    """

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def feed(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        if not isinstance(chunk, dict):
            raise UpstreamFormatError("upstream stream event is not a JSON object")
        kind = chunk.get("type")
        if kind == "error":
            error = chunk.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise UpstreamFormatError(message if isinstance(message, str) else str(error))
        if kind == "message_start":
            message = chunk.get("message") if isinstance(chunk.get("message"), dict) else {}
            assert isinstance(message, dict)
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._input_tokens = usage_input_tokens(usage)
                self._output_tokens = usage_output_tokens(usage)
            if not self._started:
                self._started = True
                yield Start(
                    str(message.get("id") or message_id()), str(message.get("model") or ""), now()
                )
        elif kind == "content_block_start":
            yield from self._block_start(chunk)
        elif kind == "content_block_delta":
            yield from self._block_delta(chunk)
        elif kind == "message_delta":
            yield from self._message_delta(chunk)
        elif kind == "message_stop":
            yield from self.close()

    def close(self) -> Iterator[StreamEvent]:
        if self._started and not self._finished:
            self._finished = True
            yield Finish("tool_calls" if self._tools else "stop")
            yield UsageEvent(Usage(self._input_tokens, self._output_tokens))

    def _block_start(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        block = chunk.get("content_block")
        index = chunk.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            raise UpstreamFormatError("upstream content_block_start without a block")
        if block.get("type") == "text":
            if block.get("text"):
                yield TextDelta(str(block["text"]))
        elif block.get("type") == "tool_use":
            call = len(self._tools)
            self._tools[index] = call
            yield ToolCallStart(call, str(block.get("id")), str(block.get("name")))
            if block.get("input"):
                yield ToolCallDelta(call, dumps_str(block["input"]))

    def _block_delta(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        delta = chunk.get("delta")
        if not isinstance(delta, dict):
            return
        if delta.get("type") == "text_delta" and delta.get("text"):
            yield TextDelta(str(delta["text"]))
        elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            call = self._tools.get(chunk.get("index"))  # type: ignore[arg-type]
            if call is not None:
                yield ToolCallDelta(call, str(delta["partial_json"]))

    def _message_delta(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            if usage.get("input_tokens") is not None:
                self._input_tokens = usage_input_tokens(usage)
            self._output_tokens = usage_output_tokens(usage)
        delta = chunk.get("delta") if isinstance(chunk.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        if self._started and not self._finished:
            self._finished = True
            yield Finish(map_stop_reason(delta.get("stop_reason")))
            yield UsageEvent(Usage(self._input_tokens, self._output_tokens))

"""OpenAI Chat Completions streaming: internal events <-> `chat.completion.chunk` SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from llmportal.gateway.formats._common import (
    SSE_DONE,
    UpstreamFormatError,
    completion_id,
    now,
    portal_tool_call_id,
    sse_data,
)
from llmportal.gateway.types import (
    Finish,
    FinishReason,
    ReasoningDelta,
    Start,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from llmportal.jsonio import dumps_str

_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


def map_finish_reason(reason: Any, has_tool_calls: bool = False) -> FinishReason:
    """An upstream's finish_reason -> ours. Some servers say "stop" after tool calls."""
    mapped = _REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def reasoning_text(message: dict[str, Any]) -> str | None:
    """The reasoning beside an answer: `reasoning_content` (DeepSeek, vLLM, llama.cpp server,
    Together) or `reasoning` (OpenRouter, Ollama)."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


async def render_stream(
    events: AsyncIterator[StreamEvent], *, include_usage: bool = True
) -> AsyncIterator[bytes]:
    """Internal events -> SSE bytes:
    `data: {chat.completion.chunk}\\n\\n` ... `data: [DONE]\\n\\n`.

    The first chunk carries `delta.role`; the usage chunk (`choices: []`) comes after the
    finish_reason chunk, as OpenAI sends it, and only with `include_usage` (pass
    `wants_stream_usage(body)`: clients that did not ask may index `choices[0]` blindly).
    If `events` raises, the exception propagates and nothing more is written (no [DONE]):
    the caller then sends `render_stream_error(message)`, which ends the stream itself.
    A stream that ends without Start or Finish still gets both (Finish defaults to "stop").
    """
    head: dict[str, Any] | None = None
    finished = False
    pending_usage: Usage | None = None

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        assert head is not None
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return sse_data({**head, "choices": [choice]})

    def usage_chunk(usage: Usage) -> bytes:
        assert head is not None
        return sse_data({**head, "choices": [], "usage": usage_body(usage)})

    async for event in events:
        if head is None:
            start = event if isinstance(event, Start) else Start(completion_id(), "", now())
            head = {
                "id": start.id,
                "object": "chat.completion.chunk",
                "created": start.created,
                "model": start.model,
            }
            yield chunk({"role": "assistant", "content": ""})
            if isinstance(event, Start):
                continue
        if isinstance(event, TextDelta):
            if event.text:
                yield chunk({"content": event.text})
        elif isinstance(event, ReasoningDelta):
            if event.text:
                yield chunk({"reasoning_content": event.text})
        elif isinstance(event, ToolCallStart):
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            yield chunk({"tool_calls": [call]})
        elif isinstance(event, ToolCallDelta):
            if event.arguments:
                call = {"index": event.index, "function": {"arguments": event.arguments}}
                yield chunk({"tool_calls": [call]})
        elif isinstance(event, Finish) and not finished:
            finished = True
            yield chunk({}, event.reason)
            if pending_usage is not None and include_usage:
                yield usage_chunk(pending_usage)
        elif isinstance(event, UsageEvent):
            if finished and include_usage:
                yield usage_chunk(event.usage)
            else:
                pending_usage = event.usage
    if head is None:
        head = {"id": completion_id(), "object": "chat.completion.chunk", "created": now()}
        head["model"] = ""
        yield chunk({"role": "assistant", "content": ""})
    if not finished:
        yield chunk({}, "stop")
        if pending_usage is not None and include_usage:
            yield usage_chunk(pending_usage)
    yield SSE_DONE


def render_stream_error(message: str) -> bytes:
    """The contract's mid-stream error event, `data: {"error": {"message": ...}}\\n\\n`,
    followed by `data: [DONE]\\n\\n`: this is the whole end of the stream."""
    return sse_data({"error": {"message": message}}) + SSE_DONE


@dataclass(slots=True)
class _Call:
    index: int  # ours: 0-based, in order of appearance
    id: str | None
    name: str | None
    started: bool = False
    buffered: list[str] = field(default_factory=list)


class StreamParser:
    """Feed it each upstream SSE `data:` payload (parsed JSON); it yields internal events.

    Yields Start once (on the first chunk), TextDelta, ToolCallStart/ToolCallDelta (our index is
    the call's position; an upstream that reuses one index for calls with different ids gets
    distinct ones), Finish once, UsageEvent once. Call `close()` after `[DONE]` (or the end of
    the body) to get whatever the upstream left out: a Finish, a late usage.
    An upstream `{"error": ...}` payload raises UpstreamFormatError.
    """

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._usage_sent = False
        self._last_usage: Usage | None = None
        self._calls: dict[int, _Call] = {}  # by upstream index
        self._count = 0

    def feed(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        if not isinstance(chunk, dict):
            raise UpstreamFormatError("upstream stream chunk is not a JSON object")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else None
            raise UpstreamFormatError(message if isinstance(message, str) else str(error))
        if not self._started:
            self._started = True
            created = chunk.get("created")
            yield Start(
                id=chunk.get("id") or completion_id(),
                model=chunk.get("model") or "",
                created=int(created) if isinstance(created, int | float) else now(),
            )
        choices = chunk.get("choices") or []
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        reason = None
        if choice is not None:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield TextDelta(content)
            reasoning = reasoning_text(delta)
            if reasoning:
                yield ReasoningDelta(reasoning)
            for pos, raw in enumerate(delta.get("tool_calls") or []):
                yield from self._tool_call(raw, pos)
            reason = choice.get("finish_reason")
        if isinstance(chunk.get("usage"), dict):
            self._last_usage = _usage(chunk["usage"])
        if reason is not None and not self._finished:
            yield from self._flush_calls()
            self._finished = True
            yield Finish(map_finish_reason(reason, bool(self._calls)))
        if self._last_usage is not None and not self._usage_sent and (reason or not choices):
            self._usage_sent = True
            yield UsageEvent(self._last_usage)

    def close(self) -> Iterator[StreamEvent]:
        """Events for the end of the upstream stream: a Finish and usage not yet sent."""
        if not self._started:
            return
        if not self._finished:
            yield from self._flush_calls()
            self._finished = True
            yield Finish(map_finish_reason(None, bool(self._calls)))
        if self._last_usage is not None and not self._usage_sent:
            self._usage_sent = True
            yield UsageEvent(self._last_usage)

    def _tool_call(self, raw: Any, pos: int) -> Iterator[StreamEvent]:
        if not isinstance(raw, dict):
            return
        key = raw["index"] if isinstance(raw.get("index"), int) else pos
        fn: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else {}
        call_id, name = raw.get("id") or None, fn.get("name") or None
        call = self._calls.get(key)
        if call is None or (call_id and call.id and call_id != call.id):
            call = _Call(index=self._count, id=call_id, name=name)
            self._count += 1
            self._calls[key] = call
        call.id = call.id or call_id
        call.name = call.name or name
        arguments = fn.get("arguments")
        if isinstance(arguments, dict):
            arguments = dumps_str(arguments)
        if call.name and not call.started:
            yield from self._start(call)
        if isinstance(arguments, str) and arguments:
            if call.started:
                yield ToolCallDelta(call.index, arguments)
            else:
                call.buffered.append(arguments)

    def _start(self, call: _Call) -> Iterator[StreamEvent]:
        call.started = True
        name = call.name or ""
        yield ToolCallStart(call.index, call.id or portal_tool_call_id(name, call.index), name)
        if call.buffered:
            yield ToolCallDelta(call.index, "".join(call.buffered))
            call.buffered.clear()

    def _flush_calls(self) -> Iterator[StreamEvent]:
        for call in sorted(self._calls.values(), key=lambda c: c.index):
            if not call.started:
                yield from self._start(call)


def _usage(raw: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )

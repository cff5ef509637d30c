"""OpenAI Responses API streaming: internal events -> the typed Responses SSE events.

The sequence, as OpenAI sends it: `response.created`, `response.in_progress`; per output item
`response.output_item.added`, its deltas (`response.output_text.delta` inside a content part,
or `response.function_call_arguments.delta`), its `...done` events and
`response.output_item.done`; then `response.completed` (or `response.incomplete` when the
reply was cut at max_output_tokens) with the whole response and its usage.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from llmportal.gateway.formats._common import SSE_DONE, now, sse_event
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
from llmportal.jsonio import dumps

_INCOMPLETE: dict[FinishReason, str] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


def response_id(any_id: str) -> str:
    """Responses ids start with resp_: keep the upstream's id recognisable, add the prefix."""
    if any_id.startswith("resp_"):
        return any_id
    tail = any_id.removeprefix("chatcmpl-").removeprefix("msg_")
    return "resp_" + (tail or secrets.token_hex(12))


def item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def usage_body(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None or usage.total_tokens == 0:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    echoed: dict[str, Any],
    rid: str,
    created: int,
    model: str,
    *,
    output: list[dict[str, Any]],
    reason: FinishReason | None,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """A `response` object; `reason` None means still in progress."""
    incomplete = _INCOMPLETE.get(reason) if reason is not None else None
    if reason is None:
        status = "in_progress"
    elif incomplete is not None:
        status = "incomplete"
    else:
        status = "completed"
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": now() if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete is not None else None,
        "model": model,
        "output": output,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "truncation": "disabled",
        "usage": usage,
        **echoed,
    }


@dataclass(slots=True)
class _Item:
    output_index: int
    id: str
    kind: str  # "message" or "function_call"
    call_id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    done: bool = False
    delta_head: bytes | None = None  # the start of its text delta events

    def body(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            content = (
                [{"type": "output_text", "text": "".join(self.pieces), "annotations": []}]
                if status == "completed"
                else []
            )
            return {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": content,
            }
        return {
            "id": self.id,
            "type": "function_call",
            "status": status,
            "call_id": self.call_id,
            "name": self.name,
            "arguments": "".join(self.pieces) if status == "completed" else "",
        }


class StreamRenderer:
    """The state of one Responses stream being written: its items and sequence numbers."""

    def __init__(self, echoed: dict[str, Any]) -> None:
        self.echoed = echoed
        self.sequence = 0
        self.items: list[_Item] = []
        self.text: _Item | None = None  # the message item taking text deltas, if open
        self.calls: dict[int, _Item] = {}  # tool call index -> its item
        self.head: tuple[str, int, str] | None = None  # id, created, model

    def _event(self, kind: str, **data: Any) -> bytes:
        out = sse_event(kind, {"type": kind, "sequence_number": self.sequence, **data})
        self.sequence += 1
        return out

    def _response(self, reason: FinishReason | None, usage: Usage | None) -> dict[str, Any]:
        assert self.head is not None
        rid, created, model = self.head
        output = [item.body("completed") for item in self.items] if reason else []
        return response_object(
            self.echoed, rid, created, model, output=output, reason=reason, usage=usage_body(usage)
        )

    def _begin(self, start: Start) -> bytes:
        self.head = (response_id(start.id), start.created, start.model)
        created = self._response(None, None)
        return self._event("response.created", response=created) + self._event(
            "response.in_progress", response=created
        )

    def _open(self, kind: str, prefix: str) -> _Item:
        item = _Item(len(self.items), item_id(prefix), kind)
        self.items.append(item)
        return item

    def _open_text(self) -> bytes:
        item = self._open("message", "msg")
        self.text = item
        added = self._event(
            "response.output_item.added",
            output_index=item.output_index,
            item=item.body("in_progress"),
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        return added + self._event(
            "response.content_part.added",
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            part=part,
        )

    def _text_delta(self, item: _Item, text: str) -> bytes:
        """`response.output_text.delta`, the event of every token: written from a template
        made once per item (the same bytes _event would make, at a fraction of its cost)."""
        if item.delta_head is None:
            where = dumps({"item_id": item.id, "output_index": item.output_index})[1:-1]
            item.delta_head = (
                b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                + where
                + b',"content_index":0,"logprobs":[],"sequence_number":'
            )
        out = item.delta_head + str(self.sequence).encode() + b',"delta":' + dumps(text) + b"}\n\n"
        self.sequence += 1
        return out

    def _close(self, item: _Item) -> bytes:
        if item.done:
            return b""
        item.done = True
        out = b""
        where = {"item_id": item.id, "output_index": item.output_index}
        if item.kind == "message":
            text = "".join(item.pieces)
            part = {"type": "output_text", "text": text, "annotations": []}
            out += self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            out += self._event("response.content_part.done", **where, content_index=0, part=part)
            if self.text is item:
                self.text = None
        else:
            out += self._event(
                "response.function_call_arguments.done", **where, arguments="".join(item.pieces)
            )
        return out + self._event(
            "response.output_item.done", output_index=item.output_index, item=item.body("completed")
        )

    def _close_all(self) -> bytes:
        return b"".join(self._close(item) for item in self.items)

    async def render(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
        """Internal events -> SSE bytes. If `events` raises, the exception propagates and
        nothing more is written: the caller then sends `error(message)`."""
        reason: FinishReason | None = None
        usage: Usage | None = None
        async for event in events:
            if self.head is None:
                start = event if isinstance(event, Start) else Start("", "", now())
                yield self._begin(start)
                if isinstance(event, Start):
                    continue
            if isinstance(event, TextDelta):
                if not event.text:
                    continue
                out = self._open_text() if self.text is None else b""
                assert self.text is not None
                self.text.pieces.append(event.text)
                yield out + self._text_delta(self.text, event.text)
            elif isinstance(event, ToolCallStart):
                out = self._close(self.text) if self.text is not None else b""
                item = self._open("function_call", "fc")
                item.call_id, item.name = event.id, event.name
                self.calls[event.index] = item
                yield out + self._event(
                    "response.output_item.added",
                    output_index=item.output_index,
                    item=item.body("in_progress"),
                )
            elif isinstance(event, ToolCallDelta):
                call = self.calls.get(event.index)
                if call is None or call.done or not event.arguments:
                    continue
                call.pieces.append(event.arguments)
                yield self._event(
                    "response.function_call_arguments.delta",
                    item_id=call.id,
                    output_index=call.output_index,
                    delta=event.arguments,
                )
            elif isinstance(event, Finish):
                reason = reason or event.reason
            elif isinstance(event, UsageEvent):
                usage = event.usage
        if self.head is None:
            yield self._begin(Start("", "", now()))
        out = b"" if self.items else self._open_text()
        reason = reason or "stop"
        final = self._response(reason, usage)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        yield out + self._close_all() + self._event(kind, response=final)

    def error(self, message: str) -> bytes:
        """A failure after the stream started: an `error` event (whose `error.message` the
        SDK raises as APIError) and `data: [DONE]`, which ends the stream."""
        error = {"type": "server_error", "code": "upstream_error", "message": message}
        return (
            self._event("error", code="upstream_error", message=message, param=None, error=error)
            + SSE_DONE
        )


def render_stream(
    events: AsyncIterator[StreamEvent], echoed: dict[str, Any]
) -> tuple[AsyncIterator[bytes], StreamRenderer]:
    """The SSE bytes of `events`, and the renderer whose `error(message)` ends a failed one."""
    renderer = StreamRenderer(echoed)
    return renderer.render(events), renderer


def render_stream_error(message: str) -> bytes:
    """The error end of a Responses stream for which no renderer exists yet."""
    return StreamRenderer({}).error(message)

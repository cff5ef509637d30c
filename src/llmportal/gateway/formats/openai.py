"""OpenAI Chat Completions <-> the internal model, both directions, streaming included.

Client side (the portal's own API): parse_request, render_response, render_stream.
Upstream side (the openai provider): build_request, parse_response, StreamParser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A client's OpenAI-format body -> ChatRequest. Raises FormatError naming the field."""
    raise NotImplementedError


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """ChatResponse -> the OpenAI `chat.completion` object the reference shows."""
    raise NotImplementedError


async def render_stream(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """Internal events -> SSE bytes:
    `data: {chat.completion.chunk}\\n\\n` ... `data: [DONE]\\n\\n`."""
    raise NotImplementedError
    yield b""


def render_stream_error(message: str) -> bytes:
    """The contract's mid-stream error event, `data: {"error": {"message": ...}}\\n\\n`."""
    raise NotImplementedError


def build_request(req: ChatRequest, upstream_model: str) -> dict[str, Any]:
    """ChatRequest -> an OpenAI-format body for an upstream (stream_options.include_usage set)."""
    raise NotImplementedError


def parse_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream's OpenAI `chat.completion` -> ChatResponse."""
    raise NotImplementedError


class StreamParser:
    """Feed it each upstream SSE `data:` payload (parsed JSON); it yields internal events."""

    def feed(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        raise NotImplementedError

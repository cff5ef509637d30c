"""Anthropic Messages <-> the internal model, both directions, streaming included.

Client side (the portal's own API): parse_request, render_response, render_stream.
Upstream side (the anthropic provider): build_request, parse_response, StreamParser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A client's Anthropic-format body -> ChatRequest. Raises FormatError naming the field."""
    raise NotImplementedError


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """ChatResponse -> an Anthropic `message` object."""
    raise NotImplementedError


async def render_stream(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """Internal events -> SSE bytes:
    the Anthropic event sequence (`event: X\\ndata: {...}\\n\\n`)."""
    raise NotImplementedError
    yield b""


def render_stream_error(message: str) -> bytes:
    """The mid-stream error: an Anthropic `error` event, then
    the contract`s `data: {"error": {"message": ...}}`."""
    raise NotImplementedError


def build_request(req: ChatRequest, upstream_model: str) -> dict[str, Any]:
    """ChatRequest -> an Anthropic-format body for an upstream."""
    raise NotImplementedError


def parse_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream's Anthropic `message` -> ChatResponse."""
    raise NotImplementedError


class StreamParser:
    """Feed it each upstream SSE event payload (parsed JSON, with its "type"); it yields
    internal events."""

    def feed(self, chunk: dict[str, Any]) -> Iterator[StreamEvent]:
        raise NotImplementedError

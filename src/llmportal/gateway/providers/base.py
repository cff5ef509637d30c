"""What every provider offers the gateway, and the errors it raises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from llmportal.config import ModelConfig
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent


class UpstreamError(Exception):
    """The upstream failed (connection refused, 4xx/5xx, malformed answer): 502 to the client."""

    status = 502

    def __init__(self, message: str, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time: 504 to the client."""

    status = 504


class Provider(Protocol):
    id: str

    async def complete(self, req: ChatRequest, model: ModelConfig) -> ChatResponse: ...

    def stream(self, req: ChatRequest, model: ModelConfig) -> AsyncIterator[StreamEvent]: ...

    async def close(self) -> None: ...

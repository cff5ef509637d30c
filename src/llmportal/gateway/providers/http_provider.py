"""HttpProvider: the request and stream plumbing the OpenAI and Anthropic providers share; each
keeps its body, its answer parsing and a StreamRelay for its event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, TypeVar

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http import (
    BAD_SHAPE,
    Response,
    UpstreamClient,
    json_instead_of_stream,
    make_breaker,
    malformed,
    open_response,
    read_json,
    response_events,
    sse_events,
    upstream_message,
)
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent

R = TypeVar("R")


class StreamRelay(Protocol):
    """One upstream stream's events, turned into ours as they arrive."""

    stopped: bool  # the upstream's last event came: read no further

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]: ...

    def end(self) -> list[StreamEvent]:
        """After the last event: what is left, or raise when the stream was cut short."""
        ...


class HttpProvider:
    """An upstream over HTTP: a JSON answer, or an event stream read by a StreamRelay."""

    def __init__(self, cfg: ProviderConfig, url: str, headers: dict[str, str]) -> None:
        self.id = cfg.id
        self.cfg = cfg
        self.url = url
        self.headers = headers
        self.stream_headers = {**headers, "Accept": "text/event-stream"}
        self.client = UpstreamClient(cfg, url)
        self.breaker = make_breaker(cfg)

    def _body(self, req: ChatRequest, model: ModelConfig, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        raise NotImplementedError

    def _relay(self) -> StreamRelay:
        raise NotImplementedError

    def _url(self, model: ModelConfig) -> str:
        """Where a completion for `model` is posted (one URL, unless the upstream has one
        per deployment)."""
        return self.url

    async def _open(self, req: ChatRequest, model: ModelConfig, stream: bool) -> Response:
        headers = self.stream_headers if stream else self.headers
        body = self._body(req, model, stream)
        url = self._url(model)
        return await open_response(self.client, self.cfg, url, headers, body, self.breaker)

    async def complete(self, req: ChatRequest, model: ModelConfig) -> ChatResponse:
        response = await self._open(req, model, False)
        return self._parse(await read_json(self.cfg, response))

    async def stream(self, req: ChatRequest, model: ModelConfig) -> AsyncIterator[StreamEvent]:
        response = await self._open(req, model, True)
        whole = await self._whole_answer(response)
        if whole is not None:
            for event in response_events(self._parse(whole)):
                yield event
            return
        relay = self._relay()
        sse = self._events(response)
        try:
            async for name, data in sse:
                for event in relay.feed(name, data):
                    yield event
                if relay.stopped:
                    break
        finally:
            await sse.aclose()  # type: ignore[attr-defined]
            # Back to the pool when the body was read to its end, else the connection closes.
            response.release()
        for event in relay.end():
            yield event

    async def _whole_answer(self, response: Response) -> dict[str, Any] | None:
        """A whole JSON answer where a stream was asked for (read and closed), or None."""
        return await json_instead_of_stream(self.cfg, response)

    def _events(self, response: Response) -> AsyncIterator[tuple[str | None, bytes]]:
        """The upstream's stream as (event name, data): server-sent events, unless the
        upstream frames its stream otherwise."""
        return sse_events(self.cfg, response)

    def upstream_error(self, body: dict[str, Any]) -> UpstreamError:
        return UpstreamError(f"Upstream '{self.id}': {upstream_message(body)}")

    def shaped(
        self, parse: Callable[[dict[str, Any]], Iterable[R]], data: dict[str, Any]
    ) -> list[R]:
        """parse(data), listed; an answer of the wrong shape is a malformed answer (502)."""
        try:
            return list(parse(data))
        except BAD_SHAPE as exc:
            raise malformed(self.id, exc) from exc

    async def close(self) -> None:
        await self.client.close()

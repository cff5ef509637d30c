"""Any OpenAI-compatible upstream: POST {base_url}/chat/completions, SSE with usage at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.formats import openai as wire
from llmportal.gateway.providers import http
from llmportal.gateway.types import ChatRequest, ChatResponse, Finish, StreamEvent

_BAD_SHAPE = (KeyError, TypeError, ValueError, IndexError, AttributeError)


class OpenAIProvider:
    def __init__(self, cfg: ProviderConfig) -> None:
        self.id = cfg.id
        self.cfg = cfg
        self.url = (cfg.base_url or "").rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = cfg.resolved_api_key()
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.client = http.make_client(cfg)
        self.breaker = http.make_breaker(cfg)

    def _body(self, req: ChatRequest, model: ModelConfig, stream: bool) -> dict[str, Any]:
        body = wire.build_request(req, model.wire_name)
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        return body

    async def complete(self, req: ChatRequest, model: ModelConfig) -> ChatResponse:
        response = await http.open_response(
            self.client,
            self.cfg,
            self.url,
            self.headers,
            self._body(req, model, False),
            breaker=self.breaker,
        )
        return self._parse(await http.read_json(self.cfg, response))

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        if "error" in data and "choices" not in data:
            raise http.UpstreamError(f"Upstream '{self.id}': {http.upstream_message(data)}")
        try:
            return wire.parse_response(data)
        except _BAD_SHAPE as exc:
            raise http.malformed(self.id, exc) from exc

    async def stream(self, req: ChatRequest, model: ModelConfig) -> AsyncIterator[StreamEvent]:
        headers = {**self.headers, "Accept": "text/event-stream"}
        response = await http.open_response(
            self.client,
            self.cfg,
            self.url,
            headers,
            self._body(req, model, True),
            breaker=self.breaker,
        )
        whole = await http.json_instead_of_stream(self.cfg, response)
        if whole is not None:
            for event in http.response_events(self._parse(whole)):
                yield event
            return
        parser = wire.StreamParser()
        finished = done = False
        try:
            async for _event, data in http.sse_events(self.cfg, response):
                # Read on to the end of the body after [DONE]: a response closed early
                # takes its connection out of the pool (a new TCP connection per stream).
                if done or data.strip() == "[DONE]":
                    done = True
                    continue
                chunk = http.parse_json(self.id, data)
                if "error" in chunk and "choices" not in chunk:
                    message = http.upstream_message(chunk)
                    raise http.UpstreamError(f"Upstream '{self.id}': {message}")
                try:
                    events = list(parser.feed(chunk))
                except _BAD_SHAPE as exc:
                    raise http.malformed(self.id, exc) from exc
                for event in events:
                    finished = finished or isinstance(event, Finish)
                    yield event
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        # Without [DONE] and without a finish_reason, the stream was cut short.
        if not (done or finished):
            raise http.stream_ended_early(self.id)
        for event in parser.close():
            yield event

    async def close(self) -> None:
        await self.client.aclose()

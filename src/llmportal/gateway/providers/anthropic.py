"""An Anthropic Messages upstream: POST {base_url}/v1/messages, the Anthropic event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.formats import anthropic as wire
from llmportal.gateway.providers import http
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent

API_VERSION = "2023-06-01"
_BAD_SHAPE = (KeyError, TypeError, ValueError, IndexError, AttributeError)


class AnthropicProvider:
    def __init__(self, cfg: ProviderConfig, default_max_tokens: int = 1024) -> None:
        self.id = cfg.id
        self.cfg = cfg
        self.default_max_tokens = default_max_tokens
        self.url = (cfg.base_url or "").rstrip("/") + "/v1/messages"
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": API_VERSION,
        }
        key = cfg.resolved_api_key()
        if key:
            self.headers["x-api-key"] = key
        self.client = http.make_client(cfg)
        self.breaker = http.make_breaker(cfg)

    def _body(self, req: ChatRequest, model: ModelConfig, stream: bool) -> dict[str, Any]:
        # Anthropic requires max_tokens; OpenAI-format clients often leave it out.
        body = wire.build_request(req, model.wire_name, self.default_max_tokens)
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
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
        if data.get("type") == "error":
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
            for item in http.response_events(self._parse(whole)):
                yield item
            return
        parser = wire.StreamParser()
        complete = False
        try:
            async for name, data in http.sse_events(self.cfg, response):
                chunk = http.parse_json(self.id, data)
                kind = chunk.get("type") or name
                if kind == "error":
                    raise http.UpstreamError(
                        f"Upstream '{self.id}': {http.upstream_message(chunk)}"
                    )
                if kind == "ping":
                    continue
                chunk.setdefault("type", kind)
                try:
                    events = list(parser.feed(chunk))
                except _BAD_SHAPE as exc:
                    raise http.malformed(self.id, exc) from exc
                for item in events:
                    yield item
                if kind == "message_stop":
                    complete = True
                    break
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        if not complete:
            raise http.stream_ended_early(self.id)

    async def close(self) -> None:
        await self.client.aclose()

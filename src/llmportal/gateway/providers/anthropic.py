"""An Anthropic Messages upstream: POST {base_url}/v1/messages, the Anthropic event stream."""

from __future__ import annotations

from typing import Any

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.formats import anthropic as wire
from llmportal.gateway.providers import http
from llmportal.gateway.providers.http_provider import HttpProvider
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent

API_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    def __init__(self, cfg: ProviderConfig, default_max_tokens: int = 1024) -> None:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": API_VERSION,
        }
        key = cfg.resolved_api_key()
        if key:
            headers["x-api-key"] = key
        super().__init__(cfg, (cfg.base_url or "").rstrip("/") + "/v1/messages", headers)
        self.default_max_tokens = default_max_tokens

    def _body(self, req: ChatRequest, model: ModelConfig, stream: bool) -> dict[str, Any]:
        # Anthropic requires max_tokens; OpenAI-format clients often leave it out.
        body = wire.build_request(req, model.wire_name, self.default_max_tokens)
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return body

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        if data.get("type") == "error":
            raise self.upstream_error(data)
        try:
            return wire.parse_response(data)
        except http.BAD_SHAPE as exc:
            raise http.malformed(self.id, exc) from exc

    def _relay(self) -> _Relay:
        return _Relay(self)


class _Relay:
    def __init__(self, provider: AnthropicProvider) -> None:
        self.provider = provider
        self.parser = wire.StreamParser()
        self.stopped = False  # message_stop came

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        chunk = http.parse_json(self.provider.id, data)
        kind = chunk.get("type") or event
        if kind == "error":
            raise self.provider.upstream_error(chunk)
        if kind == "ping":
            return []
        chunk.setdefault("type", kind)
        events = self.provider.shaped(self.parser.feed, chunk)
        self.stopped = kind == "message_stop"
        return events

    def end(self) -> list[StreamEvent]:
        if not self.stopped:
            raise http.stream_ended_early(self.provider.id)
        return []

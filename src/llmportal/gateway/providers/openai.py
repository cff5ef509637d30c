"""Any OpenAI-compatible upstream: POST {base_url}/chat/completions, SSE with usage at the end."""

from __future__ import annotations

from typing import Any

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.formats import embeddings as embeddings_wire
from llmportal.gateway.formats import images as images_wire
from llmportal.gateway.formats import openai as wire
from llmportal.gateway.providers import http, openai_quirks
from llmportal.gateway.providers.http_provider import HttpProvider
from llmportal.gateway.providers.openai_presets import preset_named
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    Embeddings,
    Finish,
    ImageRequest,
    Images,
    StreamEvent,
)


class OpenAIProvider(HttpProvider):
    def __init__(self, cfg: ProviderConfig) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(cfg.headers)
        key = cfg.resolved_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        base = (cfg.base_url or "").rstrip("/")
        super().__init__(cfg, base + "/chat/completions", headers)
        self.base = base
        self.preset = preset_named(cfg.preset)

    def endpoint(self, model: ModelConfig, path: str) -> str:
        return self.base + path

    def _url(self, model: ModelConfig) -> str:
        return self.endpoint(model, "/chat/completions")

    async def post_json(
        self, model: ModelConfig, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """POST to the model's `path` (retries, breaker and error mapping as for chat)."""
        url = self.endpoint(model, path)
        response = await http.open_response(
            self.client, self.cfg, url, self.headers, body, self.breaker
        )
        data = await http.read_json(self.cfg, response)
        if "error" in data and "data" not in data:
            raise self.upstream_error(data)
        return data

    async def embed(self, req: EmbeddingRequest, model: ModelConfig) -> Embeddings:
        body = embeddings_wire.build_request(req, model.wire_name)
        data = await self.post_json(model, "/embeddings", body)
        result = self.shaped(lambda d: [embeddings_wire.parse_response(d, len(req.inputs))], data)
        return result[0]

    async def generate_images(self, req: ImageRequest, model: ModelConfig) -> Images:
        body = images_wire.build_request(req, model.wire_name)
        data = await self.post_json(model, "/images/generations", body)
        return self.shaped(lambda d: [images_wire.parse_response(d, req.b64_json)], data)[0]

    def _body(self, req: ChatRequest, model: ModelConfig, stream: bool) -> dict[str, Any]:
        body = wire.build_request(req, model.wire_name)
        body["stream"] = stream
        if stream and self.preset.stream_options:
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        return openai_quirks.adapt_request(self.preset, body)

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        if "error" in data and "choices" not in data:
            raise self.upstream_error(data)
        try:
            return wire.parse_response(data)
        except http.BAD_SHAPE as exc:
            raise http.malformed(self.id, exc) from exc

    def _relay(self) -> _Relay:
        return _Relay(self)


class _Relay:
    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider
        self.parser = wire.StreamParser()
        self.stopped = False
        self.done = False  # [DONE] came
        self.finished = False  # a finish_reason came

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        # Read on to the end of the body after [DONE]: a response closed early takes its
        # connection out of the pool (a new TCP connection per stream).
        if self.done or data.strip() == b"[DONE]":
            self.done = True
            return []
        chunk = openai_quirks.stream_chunk(
            self.provider.preset, http.parse_json(self.provider.id, data)
        )
        if "error" in chunk and "choices" not in chunk:
            raise self.provider.upstream_error(chunk)
        events = self.provider.shaped(self.parser.feed, chunk)
        if not self.finished:
            self.finished = any(isinstance(e, Finish) for e in events)
        return events

    def end(self) -> list[StreamEvent]:
        # Without [DONE] and without a finish_reason, the stream was cut short.
        if not (self.done or self.finished):
            raise http.stream_ended_early(self.provider.id)
        return list(self.parser.close())

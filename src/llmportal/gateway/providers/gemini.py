"""Google's Gemini API (Generative Language): POST
{base_url}/v1beta/models/{model}:generateContent, or :streamGenerateContent?alt=sse for a
stream of GenerateContentResponse chunks, with the key in `x-goog-api-key` (`api_version`
replaces v1beta).

Errors come as {"error": {"code", "message", "status"}} and map as every HTTP provider's do
(http.py): 400 stays 400 with Gemini's message, 5xx is 502, a timeout 504.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers import gemini_wire as wire
from llmportal.gateway.providers import http
from llmportal.gateway.providers.http_provider import HttpProvider
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent, UsageEvent

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"  # the version with every feature this provider sends


class GeminiProvider(HttpProvider):
    def __init__(self, cfg: ProviderConfig) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = cfg.resolved_api_key()
        if key:
            headers["x-goog-api-key"] = key
        base = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
        version = quote(cfg.api_version or DEFAULT_API_VERSION, safe="")
        super().__init__(cfg, f"{base}/{version}/models/", headers)

    def model_url(self, model: ModelConfig, stream: bool) -> str:
        name = quote(model.wire_name.removeprefix("models/"), safe="")
        method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        return self.url + name + method

    async def _open(self, req: ChatRequest, model: ModelConfig, stream: bool) -> http.Response:
        headers = self.stream_headers if stream else self.headers
        url = self.model_url(model, stream)  # one URL per model and per kind of answer
        body = wire.build_request(req)
        return await http.open_response(self.client, self.cfg, url, headers, body, self.breaker)

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        if "error" in data and "candidates" not in data:
            raise self.upstream_error(data)
        return self.shaped(lambda d: [wire.parse_response(d)], data)[0]

    def _relay(self) -> _Relay:
        return _Relay(self)


class _Relay:
    """No event ends a Gemini stream: it is complete once a chunk gave a finishReason."""

    def __init__(self, provider: GeminiProvider) -> None:
        self.provider = provider
        self.parser = wire.StreamParser()
        self.stopped = False

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        chunk = http.parse_json(self.provider.id, data)
        if "error" in chunk and "candidates" not in chunk:
            raise self.provider.upstream_error(chunk)
        return self.provider.shaped(self.parser.feed, chunk)

    def end(self) -> list[StreamEvent]:
        if not self.parser.finished:
            raise http.stream_ended_early(self.provider.id)
        usage = self.parser.usage
        return [UsageEvent(usage)] if usage is not None else []

"""AWS Bedrock: POST {base}/model/{modelId}/converse (a JSON answer) and /converse-stream (an
`application/vnd.amazon.eventstream` binary stream), each request signed with SigV4.

The model's `upstream_model` is the Bedrock model id (or an inference profile id or ARN).
The base defaults to https://bedrock-runtime.{aws_region}.amazonaws.com.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer, ParserError
from botocore.session import Session
from yarl import URL

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers import bedrock_wire as wire
from llmportal.gateway.providers import http
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http_provider import HttpProvider
from llmportal.gateway.types import ChatRequest, ChatResponse, StreamEvent

EVENT_STREAM = "application/vnd.amazon.eventstream"


def _setting(value: str | None, env: str | None) -> str | None:
    return value or (os.environ.get(env) if env else None)


def static_credentials(cfg: ProviderConfig) -> Credentials | None:
    """The configured key pair (and session token), or None: use the default chain."""
    key = _setting(cfg.aws_access_key_id, cfg.aws_access_key_id_env)
    secret = _setting(cfg.aws_secret_access_key, cfg.aws_secret_access_key_env)
    if not key or not secret:
        return None
    return Credentials(key, secret, _setting(cfg.aws_session_token, cfg.aws_session_token_env))


class Signer:
    """SigV4 headers for one request's exact URL and bytes (the date is in the signature)."""

    def __init__(self, cfg: ProviderConfig, base: str) -> None:
        self.provider_id = cfg.id
        self.region = cfg.aws_region or ""
        self.credentials = static_credentials(cfg)
        # Given, botocore need not parse it out of each URL (twice); aiohttp sends it as is.
        self.host = URL(base).host_port_subcomponent or ""

    async def _frozen(self) -> ReadOnlyCredentials:
        if self.credentials is None:
            # The default chain may read files or ask the instance metadata service: once,
            # off the event loop.
            self.credentials = await asyncio.to_thread(Session().get_credentials)
            if self.credentials is None:
                raise UpstreamError(f"Provider '{self.provider_id}' has no AWS credentials")
        return self.credentials.get_frozen_credentials()

    async def headers(self, url: str, content: bytes, accept: str) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=url,
            data=content,
            headers={"Host": self.host, "Content-Type": "application/json", "Accept": accept},
        )
        SigV4Auth(await self._frozen(), "bedrock", self.region).add_auth(request)
        return dict(request.headers.items())


class BedrockProvider(HttpProvider):
    def __init__(self, cfg: ProviderConfig) -> None:
        base = cfg.base_url or f"https://bedrock-runtime.{cfg.aws_region}.amazonaws.com"
        super().__init__(cfg, base.rstrip("/"), {})
        self.base = base.rstrip("/")
        self.signer = Signer(cfg, self.base)

    def endpoint(self, model: ModelConfig, stream: bool) -> str:
        # Signed as aiohttp will send it (yarl normalises the quoting, e.g. %3A back to ":").
        model_id = quote(model.wire_name, safe="")
        return str(URL(f"{self.base}/model/{model_id}/converse{'-stream' if stream else ''}"))

    async def _open(self, req: ChatRequest, model: ModelConfig, stream: bool) -> http.Response:
        content = orjson.dumps(wire.build_request(req))
        url = self.endpoint(model, stream)
        headers = await self.signer.headers(
            url, content, EVENT_STREAM if stream else "application/json"
        )
        return await http.open_response(self.client, self.cfg, url, headers, content, self.breaker)

    def _parse(self, data: dict[str, Any]) -> ChatResponse:
        return self.shaped(lambda d: [wire.parse_response(d)], data)[0]

    async def _whole_answer(self, response: http.Response) -> dict[str, Any] | None:
        return None  # a 2xx ConverseStream answer is always an event stream

    async def _events(self, response: http.Response) -> AsyncIterator[tuple[str | None, bytes]]:
        """(event type, JSON payload) for each event-stream message; an exception message
        raises UpstreamError."""
        buffer = EventStreamBuffer()
        async with contextlib.aclosing(http.body_chunks(self.cfg, response)) as chunks:
            async for chunk in chunks:
                try:
                    buffer.add_data(chunk)
                    messages = list(buffer)
                except ParserError as exc:
                    raise http.malformed(self.id, exc) from exc
                for message in messages:
                    headers = message.headers
                    kind = headers.get(":message-type")
                    if kind == "event":
                        yield headers.get(":event-type"), message.payload
                    elif kind in ("exception", "error"):
                        raise self._stream_exception(headers, message.payload)

    def _stream_exception(self, headers: dict[str, Any], payload: bytes) -> UpstreamError:
        name = headers.get(":exception-type") or headers.get(":error-code") or "error"
        message = headers.get(":error-message") or http.upstream_message(payload)
        return UpstreamError(f"Upstream '{self.id}': {name}: {message}")

    def _relay(self) -> _Relay:
        return _Relay(self)


class _Relay:
    def __init__(self, provider: BedrockProvider) -> None:
        self.provider = provider
        self.parser = wire.StreamParser()
        self.stopped = False  # read on past messageStop: the usage comes after it

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        payload = http.parse_json(self.provider.id, data)
        return self.provider.shaped(lambda p: self.parser.feed(event, p), payload)

    def end(self) -> list[StreamEvent]:
        if not self.parser.stopped:
            raise http.stream_ended_early(self.provider.id)
        return []

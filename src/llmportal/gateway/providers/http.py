"""What the HTTP providers share: one pooled aiohttp client each, error mapping, retries, SSE
reading (HttpProvider, in http_provider.py, builds the request and stream plumbing on them).

aiohttp rather than httpx: measured on the benchmark's fake upstream, an upstream call costs
~0.1 ms of CPU through aiohttp against 0.5-1 ms through httpx/httpcore/anyio (which also checks
every pooled connection's socket on each request).

Error mapping (documented in docs/gateway.md):
- connection refused or reset, a 5xx, a 404/401/403/429 from the upstream, or an answer that
  is not the JSON we expect -> UpstreamError (502), with the upstream's own message;
- retried (`max_retries`, exponential backoff with jitter) before any byte is read: connection
  failures, 5xx, and 429 after the upstream's `Retry-After` (a wait longer than
  RETRY_AFTER_CAP_S is not retried: the client gets the 502 at once);
- a provider failing `breaker_threshold` calls in a row opens its circuit breaker (breaker.py):
  502 "Provider 'X' is unavailable" at once, until a probe after `breaker_cooldown_s` succeeds;
- no answer within the provider's `timeout_s` (connect, or between two reads) -> UpstreamTimeout
  (504);
- 400 or 422 (the upstream found the request itself invalid) -> UpstreamRejected (400), so a
  client sees that the fix is on its side.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp.helpers import BasicAuth, get_env_proxy_for_url
from yarl import URL

from llmportal.config import ProviderConfig
from llmportal.gateway.providers.base import UpstreamError, UpstreamTimeout
from llmportal.gateway.providers.breaker import CircuitBreaker
from llmportal.gateway.types import (
    ChatResponse,
    Finish,
    ReasoningDelta,
    Start,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageEvent,
)
from llmportal.logs import with_request_id

RETRY_BACKOFF_S = 0.25
RETRY_AFTER_CAP_S = 10.0  # the longest upstream Retry-After we wait for before retrying
_sleep = asyncio.sleep  # tests record the waits instead
BAD_SHAPE = (KeyError, TypeError, ValueError, IndexError, AttributeError)


class UpstreamRejected(UpstreamError):
    """The upstream judged the request invalid (400/422): the client's request is at fault."""

    status = 400


class UpstreamBusy(UpstreamError):
    """429 from the upstream; `retry_after` in seconds when it said how long to wait."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


def make_breaker(cfg: ProviderConfig) -> CircuitBreaker:
    return CircuitBreaker(cfg.id, cfg.breaker_threshold, cfg.breaker_cooldown_s)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class UpstreamClient:
    """One provider's pooled keep-alive connections (no cap: as many as requests in flight).
    The aiohttp session belongs to the running event loop, so it is made on first use.

    `timeout_s` bounds the connection (at most 30 s) and each wait for data from the upstream.
    A proxy from HTTP(S)_PROXY / NO_PROXY is looked up once, not per request."""

    def __init__(self, cfg: ProviderConfig, url: str) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=min(cfg.timeout_s, 30.0), sock_read=cfg.timeout_s
        )
        self.proxy: URL | None = None
        self.proxy_auth: BasicAuth | None = None
        with contextlib.suppress(LookupError):  # no proxy for this URL
            self.proxy, self.proxy_auth = get_env_proxy_for_url(URL(url))
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def post(self, url: str, headers: dict[str, str], content: bytes) -> Any:
        return await self.session().post(
            url,
            data=content,
            headers=with_request_id(headers),
            allow_redirects=False,
            proxy=self.proxy,
            proxy_auth=self.proxy_auth,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Response = aiohttp.ClientResponse
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


def upstream_message(body: bytes | dict[str, Any]) -> str:
    """The human message inside an upstream error body, in either API's shape."""
    if isinstance(body, dict):
        data: Any = body
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode(errors="replace").strip()
            return text[:300] or "no details"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return str(data)[:300]


def error_for_status(
    provider_id: str, status: int, body: bytes, retry_after: str | None = None
) -> UpstreamError:
    message = upstream_message(body)
    if status in (400, 422):
        return UpstreamRejected(f"Upstream rejected the request: {message}", status)
    if status == 429:
        return UpstreamBusy(
            f"Upstream '{provider_id}' answered 429: {message}", parse_retry_after(retry_after)
        )
    return UpstreamError(f"Upstream '{provider_id}' answered {status}: {message}", status)


def transport_error(provider_id: str, cfg: ProviderConfig, exc: Exception) -> UpstreamError:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Upstream '{provider_id}' timed out after {cfg.timeout_s:g}s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"Upstream '{provider_id}' is unreachable")
    return UpstreamError(f"Upstream '{provider_id}' connection failed ({type(exc).__name__})")


def _retry_delay(exc: UpstreamError, attempt: int) -> float | None:
    """Seconds to wait before retry number `attempt` (1-based), or None: do not retry."""
    if isinstance(exc, UpstreamBusy):
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= RETRY_AFTER_CAP_S else None
    elif isinstance(exc, UpstreamRejected | UpstreamTimeout) or (exc.upstream_status or 500) < 500:
        return None
    backoff = RETRY_BACKOFF_S * 2 ** (attempt - 1)
    return backoff * random.uniform(0.8, 1.2)


def _counts_against_provider(exc: UpstreamError) -> bool:
    """Failures of the provider itself (not of this request) move its circuit breaker."""
    return not isinstance(exc, UpstreamRejected)


async def open_response(
    client: UpstreamClient,
    cfg: ProviderConfig,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | bytes,
    breaker: CircuitBreaker | None = None,
) -> Response:
    """POST and return the open (streamed) response once its status is 2xx; the caller closes
    it. Connection failures, 5xx and 429 are retried `max_retries` times before any byte is
    read; the breaker, when given, sees one outcome per call (after its retries). A body given
    as bytes goes as it is (a signed request: the signature covers those bytes)."""
    if breaker is not None:
        breaker.before_call()
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    attempt = 0
    try:
        while True:
            try:
                response = await _open_once(client, cfg, url, headers, content)
            except UpstreamError as exc:
                delay = _retry_delay(exc, attempt + 1) if attempt < cfg.max_retries else None
                if delay is None:
                    raise
                attempt += 1
                await _sleep(delay)
                continue
            if breaker is not None:
                breaker.succeeded()
            return response
    except UpstreamError as exc:
        if breaker is not None:
            if _counts_against_provider(exc):
                breaker.failed()
            else:
                breaker.succeeded()  # it answered, and judged the request: the provider is up
        raise
    except BaseException:
        if breaker is not None:
            breaker.abandoned()
        raise


async def _open_once(
    client: UpstreamClient,
    cfg: ProviderConfig,
    url: str,
    headers: dict[str, str],
    content: bytes,
) -> Response:
    try:
        response: Response = await client.post(url, headers, content)
    except TRANSPORT_ERRORS as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    if response.status >= 300:
        try:
            body = await response.read()
        except TRANSPORT_ERRORS:
            body = b""
        finally:
            response.release()
        raise error_for_status(cfg.id, response.status, body, response.headers.get("retry-after"))
    return response


async def read_json(cfg: ProviderConfig, response: Response) -> dict[str, Any]:
    try:
        body = await response.read()
    except TRANSPORT_ERRORS as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    finally:
        response.release()
    return parse_json(cfg.id, body)


def parse_json(provider_id: str, body: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"Upstream '{provider_id}' sent invalid JSON") from exc
    if not isinstance(data, dict):
        raise UpstreamError(f"Upstream '{provider_id}' sent an unexpected answer")
    return data


async def json_instead_of_stream(cfg: ProviderConfig, response: Response) -> dict[str, Any] | None:
    """None for an event stream. Some OpenAI-compatible servers answer a streaming request
    with a whole JSON completion (llm-katan does for tool calls): that body, read and closed.
    An error body or invalid JSON raises."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return None
    data = await read_json(cfg, response)
    if "error" in data and "choices" not in data and "content" not in data:
        raise UpstreamError(f"Upstream '{cfg.id}': {upstream_message(data)}")
    return data


def response_events(resp: ChatResponse) -> list[StreamEvent]:
    """A whole answer as the stream events it would have been."""
    events: list[StreamEvent] = [Start(id=resp.id, model=resp.model, created=resp.created)]
    if resp.reasoning:
        events.append(ReasoningDelta(resp.reasoning))
    if resp.content:
        events.append(TextDelta(resp.content))
    for i, call in enumerate(resp.tool_calls):
        events.append(ToolCallStart(index=i, id=call.id, name=call.name))
        events.append(ToolCallDelta(index=i, arguments=call.arguments))
    events.append(Finish(resp.finish_reason))
    events.append(UsageEvent(resp.usage))
    return events


async def body_chunks(cfg: ProviderConfig, response: Response) -> AsyncGenerator[bytes, None]:
    """The response body as it arrives, for a binary event stream."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except TRANSPORT_ERRORS as exc:
        raise transport_error(cfg.id, cfg, exc) from exc


async def sse_events(
    cfg: ProviderConfig, response: Response
) -> AsyncIterator[tuple[str | None, bytes]]:
    """(event name, data) for each server-sent event, as the upstream sends them."""
    event: str | None = None
    data: list[bytes] = []
    rest = b""
    try:
        async for chunk in response.content.iter_any():
            buf = rest + chunk if rest else chunk
            if b"\r" in buf:  # CRLF or CR line ends; a CR at the end may start a CRLF
                keep = buf.endswith(b"\r")
                buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                if keep:
                    buf = buf[:-1] + b"\r"
            lines = buf.split(b"\n")
            rest = lines.pop()
            for line in lines:
                if not line:
                    if data:
                        yield event, b"\n".join(data)
                    event, data = None, []
                elif line.startswith(b"data:"):
                    data.append(line[6:] if line.startswith(b"data: ") else line[5:])
                elif line.startswith(b"event:"):
                    event = line[6:].removeprefix(b" ").decode(errors="replace")
    except TRANSPORT_ERRORS as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    rest = rest.rstrip(b"\r")
    if rest.startswith(b"data:"):
        data.append(rest[6:] if rest.startswith(b"data: ") else rest[5:])
    if data:
        yield event, b"\n".join(data)


def stream_ended_early(provider_id: str) -> UpstreamError:
    return UpstreamError(f"Upstream '{provider_id}' ended the stream before it was complete")


def malformed(provider_id: str, exc: Exception) -> UpstreamError:
    return UpstreamError(f"Upstream '{provider_id}' sent a malformed answer ({exc})")

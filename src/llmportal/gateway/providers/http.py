"""What the HTTP providers share: one pooled client each, error mapping, retries, SSE reading.

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
import email.utils
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from llmportal.config import ProviderConfig
from llmportal.gateway.providers.base import UpstreamError, UpstreamTimeout
from llmportal.gateway.providers.breaker import CircuitBreaker
from llmportal.gateway.types import (
    ChatResponse,
    Finish,
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


def make_client(cfg: ProviderConfig) -> httpx.AsyncClient:
    timeout = httpx.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, 30.0))
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


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


def transport_error(provider_id: str, cfg: ProviderConfig, exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"Upstream '{provider_id}' timed out after {cfg.timeout_s:g}s")
    if isinstance(exc, httpx.ConnectError):
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
    client: httpx.AsyncClient,
    cfg: ProviderConfig,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    breaker: CircuitBreaker | None = None,
) -> httpx.Response:
    """POST and return the open (streamed) response once its status is 2xx; the caller closes
    it. Connection failures, 5xx and 429 are retried `max_retries` times before any byte is
    read; the breaker, when given, sees one outcome per call (after its retries)."""
    if breaker is not None:
        breaker.before_call()
    content = orjson.dumps(body)
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
    client: httpx.AsyncClient,
    cfg: ProviderConfig,
    url: str,
    headers: dict[str, str],
    content: bytes,
) -> httpx.Response:
    request = client.build_request("POST", url, headers=with_request_id(headers), content=content)
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    if response.status_code >= 300:
        try:
            body = await response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        raise error_for_status(
            cfg.id, response.status_code, body, response.headers.get("retry-after")
        )
    return response


async def read_json(cfg: ProviderConfig, response: httpx.Response) -> dict[str, Any]:
    try:
        body = await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    finally:
        await response.aclose()
    return parse_json(cfg.id, body)


def parse_json(provider_id: str, body: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"Upstream '{provider_id}' sent invalid JSON") from exc
    if not isinstance(data, dict):
        raise UpstreamError(f"Upstream '{provider_id}' sent an unexpected answer")
    return data


async def json_instead_of_stream(
    cfg: ProviderConfig, response: httpx.Response
) -> dict[str, Any] | None:
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
    if resp.content:
        events.append(TextDelta(resp.content))
    for i, call in enumerate(resp.tool_calls):
        events.append(ToolCallStart(index=i, id=call.id, name=call.name))
        events.append(ToolCallDelta(index=i, arguments=call.arguments))
    events.append(Finish(resp.finish_reason))
    events.append(UsageEvent(resp.usage))
    return events


async def sse_events(
    cfg: ProviderConfig, response: httpx.Response
) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) for each server-sent event, as the upstream sends them."""
    event: str | None = None
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    except httpx.HTTPError as exc:
        raise transport_error(cfg.id, cfg, exc) from exc
    if data:
        yield event, "\n".join(data)


def stream_ended_early(provider_id: str) -> UpstreamError:
    return UpstreamError(f"Upstream '{provider_id}' ended the stream before it was complete")


def malformed(provider_id: str, exc: Exception) -> UpstreamError:
    return UpstreamError(f"Upstream '{provider_id}' sent a malformed answer ({exc})")

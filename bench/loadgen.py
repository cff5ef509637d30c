"""One async load generator for every target: raw asyncio HTTP/1.1 keep-alive connections parsed
by httptools, `concurrency` connections each sending its next request as soon as the last one
ends. Records per request the total time and the time to the first body byte."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools


@dataclass
class Point:
    """The outcome of one measured run: latencies in seconds, errors counted, wall time."""

    latencies: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str = ""
    statuses: Counter[int] = field(default_factory=Counter)  # every answer's HTTP status
    sent: int = 0  # requests sent (the run stops sending at its `requests`)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float, ttfb: bool = False) -> float:
        data = sorted(self.ttfb if ttfb else self.latencies)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q * len(data)))]


class _Response:
    """httptools callbacks for one response."""

    def __init__(self) -> None:
        self.status = 0
        self.first_body = 0.0
        self.done: asyncio.Future[None] | None = None
        self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        if not self.first_body:
            self.first_body = time.perf_counter()

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: _Response | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.response is not None:
            self.response.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.response and self.response.done and not self.response.done.done():
            self.response.done.set_exception(ConnectionError("connection closed"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def request(self, raw: bytes) -> _Response:
        assert self.transport is not None
        response = _Response()
        response.done = asyncio.get_running_loop().create_future()
        self.response = response
        self.transport.write(raw)
        await response.done
        return response


def build_request(url: str, body: dict[str, object], headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    data = json.dumps(body).encode()
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
    ] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def _worker(
    host: str, port: int, raw: bytes, point: Point, stop_at: list[float], limit: int
) -> None:
    loop = asyncio.get_running_loop()
    conn: Connection | None = None
    while time.perf_counter() < stop_at[0] and point.sent < limit:
        point.sent += 1
        if conn is None or conn.transport is None or conn.transport.is_closing():
            _, conn = await loop.create_connection(Connection, host, port)
        start = time.perf_counter()
        try:
            response = await conn.request(raw)
        except (ConnectionError, httptools.HttpParserError) as exc:
            point.errors += 1
            point.first_error = point.first_error or repr(exc)
            conn = None
            continue
        end = time.perf_counter()
        point.statuses[response.status] += 1
        if response.status != 200:
            point.errors += 1
            point.first_error = point.first_error or f"HTTP {response.status}"
            continue
        point.latencies.append(end - start)
        point.ttfb.append((response.first_body or end) - start)
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def run(
    url: str,
    body: dict[str, object],
    headers: dict[str, str],
    *,
    concurrency: int,
    requests: int,
    max_seconds: float,
) -> Point:
    """Send `requests` requests (or for at most `max_seconds`) over `concurrency` connections."""
    parts = urlsplit(url)
    raw = build_request(url, body, headers)
    point = Point()
    start = time.perf_counter()
    stop_at = [start + max_seconds]
    await asyncio.gather(
        *(
            _worker(parts.hostname or "127.0.0.1", parts.port or 80, raw, point, stop_at, requests)
            for _ in range(concurrency)
        )
    )
    point.elapsed = time.perf_counter() - start
    return point

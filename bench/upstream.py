"""A fast fake OpenAI-compatible upstream: raw asyncio + httptools on uvloop, HTTP/1.1 keep-alive.

POST /v1/chat/completions answers a fixed completion, or with `"stream": true` a 20-chunk SSE
stream, then a usage chunk and [DONE]; for the model `bench-slow` the stream is SLOW_CHUNKS
text chunks, one per second (the slow-streams bench). POST /v1/embeddings answers two
1,536-dimensional embeddings. Every other path answers 404. Run as a process:
`python bench/upstream.py --port P` (prints "ready" once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httptools

MODEL = "bench-model"
SLOW_MODEL = "bench-slow"
CHUNKS = 20
SLOW_CHUNKS, SLOW_INTERVAL_S = 10, 1.0  # --slow-interval overrides the interval (tests)
PROMPT_TOKENS, COMPLETION_TOKENS = 9, CHUNKS


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "word " * CHUNKS},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }
    data = json.dumps(body).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(data)).encode() + b"\r\n\r\n"
    )
    return head + data


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    event: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        if delta or finish
        else [],
    }
    if usage is not None:
        event["usage"] = usage
    payload = b"data: " + json.dumps(event).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(payload), payload)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _stream_parts(chunks: int) -> list[bytes]:
    """The chunks of a stream after its head: a role chunk, text, the usage chunk, [DONE]."""
    parts = [_chunk({"role": "assistant", "content": ""})]
    parts += [_chunk({"content": "word "}) for _ in range(chunks - 1)]
    parts.append(_chunk({"content": "word "}, finish="stop"))
    usage = {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": chunks,
        "total_tokens": PROMPT_TOKENS + chunks,
    }
    parts.append(_chunk({}, usage=usage))
    done = b"data: [DONE]\n\n"
    parts.append(b"%x\r\n%s\r\n" % (len(done), done) + b"0\r\n\r\n")
    return parts


def _stream() -> bytes:
    return STREAM_HEAD + b"".join(_stream_parts(CHUNKS))


EMBEDDING_DIMENSIONS = 1536  # OpenAI's text-embedding-3-small


def _embeddings() -> bytes:
    """Two embeddings (what the bench sends two inputs for), as OpenAI answers floats."""
    vector = [round((i % 97) / 97 - 0.5, 6) for i in range(EMBEDDING_DIMENSIONS)]
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(2)],
        "model": MODEL,
        "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS},
    }
    data = json.dumps(body).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(data)).encode() + b"\r\n\r\n"
    )
    return head + data


COMPLETION, STREAM, EMBEDDINGS = _completion(), _stream(), _embeddings()
# The head and role chunk at once, then a text chunk a second, the last one with the end.
_SLOW = _stream_parts(SLOW_CHUNKS)
SLOW_PARTS = [_SLOW[0], *_SLOW[1:SLOW_CHUNKS], b"".join(_SLOW[SLOW_CHUNKS:])]
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class UpstreamProtocol(asyncio.Protocol):
    def __init__(self, slow_interval: float = SLOW_INTERVAL_S) -> None:
        self.slow_interval = slow_interval
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.slow: asyncio.Task[None] | None = None  # a slow stream being written

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.url.endswith(b"/embeddings"):
            self.transport.write(EMBEDDINGS)
            return
        if not self.url.endswith(b"/chat/completions"):
            self.transport.write(NOT_FOUND)
            return
        try:
            body = json.loads(b"".join(self.body))
        except ValueError:
            body = {}
        stream = bool(body.get("stream"))
        if stream and body.get("model") == SLOW_MODEL:
            self.slow = asyncio.get_running_loop().create_task(self._slow(self.transport))
            return
        self.transport.write(STREAM if stream else COMPLETION)

    async def _slow(self, transport: asyncio.Transport) -> None:
        """The head and first chunk at once, then one chunk per SLOW_INTERVAL_S."""
        transport.write(STREAM_HEAD + SLOW_PARTS[0])
        for part in SLOW_PARTS[1:]:
            await asyncio.sleep(self.slow_interval)
            if transport.is_closing():
                return
            transport.write(part)


async def serve(host: str, port: int, slow_interval: float = SLOW_INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: UpstreamProtocol(slow_interval), host, port, backlog=4096
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--slow-interval", type=float, default=SLOW_INTERVAL_S)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, args.slow_interval))
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.slow_interval))


if __name__ == "__main__":
    main()

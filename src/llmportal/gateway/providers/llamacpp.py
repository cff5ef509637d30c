"""The local model: llama-cpp-python on a GGUF (the bundled SmolLM2 unless model_path).

llama.cpp is native code and can crash (a segfault takes the whole process with it), so it runs
in a worker process of its own (llamacpp_worker.py), one per provider, started at warm-up or on
the first request. A worker that dies answers the request it was serving with a 502 (or an
error event mid-stream, recorded like any upstream failure) and is started afresh for the next.

One generation at a time: concurrent requests wait their turn on a lock rather than fail.
Closing the stream (a client that went away) sends the worker a cancel, which it checks between
tokens, and waits until it has stopped, so the model is free for the next request.

Tools: this small model cannot call tools. Tool definitions are ignored and it answers in text;
a request that *requires* a tool call (tool_choice "required" or a named tool) is a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import orjson

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.tokens import bundled_gguf
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    Embeddings,
    Finish,
    FinishReason,
    Start,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)

log = logging.getLogger(__name__)

# A cancelled generation stops within one token; a worker that has not stopped by then is hung.
CANCEL_GRACE_S = 30.0
EXIT_GRACE_S = 5.0


def llama_messages(req: ChatRequest) -> list[dict[str, str]]:
    """The internal messages as the plain text chat the model's template takes."""
    out: list[dict[str, str]] = []
    for m in req.messages:
        if m.role == "tool":
            out.append({"role": "user", "content": f"Result of tool call: {m.text}"})
            continue
        text = m.text
        for call in m.tool_calls:
            text += f"\n[called {call.name} with {call.arguments}]"
        out.append({"role": m.role, "content": text})
    return out


class WorkerCrashed(UpstreamError):
    """The worker process ended while it owed an answer."""


def _how_it_ended(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class _Worker:
    """One worker process and its JSON-lines pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, cfg: ProviderConfig, path: str) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "llmportal.gateway.providers.llamacpp_worker",
            path,
            str(cfg.n_ctx),
            str(cfg.n_threads or 0),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(proc)
        first = await worker.read()
        if first is None or "fatal" in first:
            await worker.stop()
            reason = first["fatal"] if first else _how_it_ended(proc.returncode)
            raise UpstreamError(f"The local model failed to load: {reason}")
        return worker

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(orjson.dumps(msg) + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise await self.crashed() from exc

    async def read(self) -> dict[str, Any] | None:
        """The next message, or None once the worker has gone."""
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            await self.proc.wait()
            return None
        msg: dict[str, Any] = orjson.loads(line)
        return msg

    async def crashed(self) -> WorkerCrashed:
        returncode = await self.proc.wait()
        how = _how_it_ended(returncode)
        log.error("the local model's worker process (pid %s) ended: %s", self.pid, how)
        return WorkerCrashed(f"The local model crashed ({how}); it restarts on the next request")

    async def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), EXIT_GRACE_S)
        except TimeoutError:
            self.kill()
            await self.proc.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


class LlamaCppProvider:
    def __init__(self, cfg: ProviderConfig, default_max_tokens: int = 1024) -> None:
        self.id = cfg.id
        self.cfg = cfg
        self.path = cfg.model_path or bundled_gguf()
        self.default_max_tokens = default_max_tokens
        self._worker: _Worker | None = None
        self._turn = asyncio.Lock()
        self._closed = False
        self._seq = 0

    @property
    def loaded(self) -> bool:
        return self._worker is not None and self._worker.alive

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self.loaded and self._worker else None

    async def _ready_worker(self) -> _Worker:
        """The running worker, started first if there is none (or the last one died)."""
        if self._worker is not None and not self._worker.alive:
            await self._worker.proc.wait()
            self._worker = None
        if self._worker is None:
            self._worker = await _Worker.start(self.cfg, self.path)
        return self._worker

    async def warm_up(self) -> None:
        async with self._turn:
            if not self._closed:
                await self._ready_worker()

    async def complete(self, req: ChatRequest, model: ModelConfig) -> ChatResponse:
        text: list[str] = []
        start: Start | None = None
        reason: FinishReason = "stop"
        usage = Usage()
        stream = self.stream(req, model)
        try:
            async for event in stream:
                if isinstance(event, Start):
                    start = event
                elif isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, Finish):
                    reason = event.reason
                elif isinstance(event, UsageEvent):
                    usage = event.usage
        finally:
            await stream.aclose()
        assert start is not None
        return ChatResponse(
            id=start.id,
            model=start.model,
            created=start.created,
            content="".join(text),
            finish_reason=reason,
            usage=usage,
        )

    def _kwargs(self, req: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": llama_messages(req),
            "max_tokens": req.max_tokens or self.default_max_tokens,
        }
        if req.temperature is not None:
            kwargs["temperature"] = req.temperature
        if req.top_p is not None:
            kwargs["top_p"] = req.top_p
        if req.stop:
            kwargs["stop"] = req.stop
        if req.seed is not None:
            kwargs["seed"] = req.seed
        return kwargs

    async def stream(
        self, req: ChatRequest, model: ModelConfig
    ) -> AsyncGenerator[StreamEvent, None]:
        if req.tool_choice is not None and req.tool_choice.mode in ("required", "tool"):
            raise UpstreamRejected(f"Model '{model.id}' cannot call tools")
        async with self._turn:
            if self._closed:
                raise UpstreamError("The local model is shutting down")
            worker = await self._ready_worker()
            self._seq += 1
            gen_id = self._seq
            await worker.send({"op": "generate", "id": gen_id, "kwargs": self._kwargs(req)})
            finished = False
            try:
                first = await self._next(worker, model)
                yield Start(
                    id=f"chatcmpl-{uuid.uuid4().hex[:24]}", model=model.id, created=int(time.time())
                )
                msg = first
                reason: FinishReason = "stop"
                while "done" not in msg:
                    if msg["text"]:
                        yield TextDelta(text=msg["text"])
                    if msg["finish"]:
                        reason = "length" if msg["finish"] == "length" else "stop"
                    msg = await self._next(worker, model)
                finished = True
                yield Finish(reason=reason)
                # The end-of-turn token is sampled but is not part of the reply.
                sampled = int(msg["sampled"])
                completion = sampled - (1 if reason == "stop" and sampled else 0)
                yield UsageEvent(
                    Usage(prompt_tokens=int(msg["prompt_tokens"]), completion_tokens=completion)
                )
            except UpstreamError:
                finished = True  # an error message or a dead worker: nothing left to wait for
                raise
            finally:
                if not finished:
                    # The model is not ours to hand on until the worker has let go of it.
                    with anyio.CancelScope(shield=True):
                        await self._cancel(worker, gen_id)

    async def embed(self, req: EmbeddingRequest, model: ModelConfig) -> Embeddings:
        """Mean-pooled, unit-length embeddings of the model's own GGUF (token arrays are read
        in its own vocabulary). One job at a time, as generations are."""
        async with self._turn:
            if self._closed:
                raise UpstreamError("The local model is shutting down")
            worker = await self._ready_worker()
            self._seq += 1
            await worker.send({"op": "embed", "id": self._seq, "input": req.inputs})
            # Not cancelled half-way: an answer left unread would be taken for the next job's.
            with anyio.CancelScope(shield=True):
                msg = await self._next(worker, model)
        vectors: list[list[float]] = msg["embeddings"]
        if req.dimensions is not None and req.dimensions != len(vectors[0]):
            raise UpstreamRejected(
                f"dimensions: model '{model.id}' makes {len(vectors[0])}-dimensional "
                "embeddings and cannot shorten them"
            )
        return Embeddings(model.id, vectors, int(msg["prompt_tokens"]))

    async def _next(self, worker: _Worker, model: ModelConfig) -> dict[str, Any]:
        msg = await worker.read()
        if msg is None:
            raise await worker.crashed()
        if "error" in msg:
            if msg["too_long"]:
                raise UpstreamRejected(
                    f"The input is too long for model '{model.id}': {msg['error']}"
                )
            raise UpstreamError(f"The local model failed: {msg['error']}")
        return msg

    async def _cancel(self, worker: _Worker, gen_id: int) -> None:
        """Stop generation `gen_id` and read up to its end; a worker that will not stop is
        killed (and restarted by the next request)."""
        try:
            await worker.send({"op": "cancel", "id": gen_id})
            async with asyncio.timeout(CANCEL_GRACE_S):
                while (msg := await worker.read()) is not None:
                    if "done" in msg or "error" in msg:
                        return
            return  # gone while stopping: the next request starts a new one
        except WorkerCrashed:
            return
        except TimeoutError:
            pass
        log.error("the local model's worker did not stop when asked; killing it")
        worker.kill()
        await worker.proc.wait()

    async def close(self) -> None:
        self._closed = True
        async with self._turn:
            worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

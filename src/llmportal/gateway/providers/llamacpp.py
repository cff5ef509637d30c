"""The in-process model: llama-cpp-python on a GGUF (the bundled SmolLM2 unless model_path).

One model instance, one generation at a time: concurrent requests wait their turn on a lock
rather than fail. Generation runs in a thread and hands each token to the event loop through a
queue; closing the stream (a client that went away) sets a flag the thread checks between
tokens, so the model stops within one token.

Tools: this small model cannot call tools. Tool definitions are ignored and it answers in text;
a request that *requires* a tool call (tool_choice "required" or a named tool) is a 400.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.tokens import bundled_gguf
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    Start,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)

_END = object()


@dataclass
class _Generation:
    """What the generation thread and the event loop share."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    prompt_tokens: int = 0
    sampled: int = 0

    def put(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def count(self, input_ids: Any, scores: Any) -> Any:
        # A logits processor sees every sampled position: the first call's input is the prompt.
        if self.sampled == 0:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


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


# llama_cpp hides its loading chatter by pointing the process's stdout/stderr at /dev/null and
# back; two loads at once in one process (a reload, several apps in tests) could restore the
# wrong descriptor and silence the process for good. One load or close at a time.
_FD_SWAP_LOCK = threading.Lock()


class LlamaCppProvider:
    def __init__(self, cfg: ProviderConfig, default_max_tokens: int = 1024) -> None:
        self.id = cfg.id
        self.cfg = cfg
        self.path = cfg.model_path or bundled_gguf()
        self.default_max_tokens = default_max_tokens
        self._llm: Any = None
        self._turn = asyncio.Lock()
        self._closed = False

    def _load(self) -> Any:
        with _FD_SWAP_LOCK:
            if self._llm is None:
                import llama_cpp

                self._llm = llama_cpp.Llama(
                    model_path=self.path,
                    n_ctx=self.cfg.n_ctx,
                    n_threads=self.cfg.n_threads,
                    verbose=False,
                )
            return self._llm

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

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

    def _kwargs(self, req: ChatRequest, gen: _Generation) -> dict[str, Any]:
        import llama_cpp

        kwargs: dict[str, Any] = {
            "messages": llama_messages(req),
            "max_tokens": req.max_tokens or self.default_max_tokens,
            "stream": True,
            "logits_processor": llama_cpp.LogitsProcessorList([gen.count]),
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

    def _generate(self, llm: Any, kwargs: dict[str, Any], gen: _Generation) -> None:
        """The generation thread: chunks into the queue until done or cancelled."""
        try:
            chunks = llm.create_chat_completion(**kwargs)
            try:
                for chunk in chunks:
                    if gen.cancel.is_set():
                        break
                    gen.put(chunk)
            finally:
                chunks.close()
            gen.put(_END)
        except Exception as exc:  # handed to the event loop, which maps it
            gen.put(exc)
        finally:
            gen.loop.call_soon_threadsafe(gen.finished.set)

    async def stream(
        self, req: ChatRequest, model: ModelConfig
    ) -> AsyncGenerator[StreamEvent, None]:
        if req.tool_choice is not None and req.tool_choice.mode in ("required", "tool"):
            raise UpstreamRejected(f"Model '{model.id}' cannot call tools")
        async with self._turn:
            if self._closed:
                raise UpstreamError("The local model is shutting down")
            try:
                llm = await asyncio.to_thread(self._load)
            except Exception as exc:
                raise UpstreamError(f"The local model failed to load: {exc}") from exc
            gen = _Generation(loop=asyncio.get_running_loop())
            kwargs = self._kwargs(req, gen)
            thread = threading.Thread(
                target=self._generate, args=(llm, kwargs, gen), name="llamacpp", daemon=True
            )
            thread.start()
            try:
                async for event in self._events(gen, model):
                    yield event
            finally:
                gen.cancel.set()
                # The model is not ours to hand on until the thread has let go of it.
                with anyio.CancelScope(shield=True):
                    await gen.finished.wait()

    async def _events(self, gen: _Generation, model: ModelConfig) -> AsyncIterator[StreamEvent]:
        first = await gen.queue.get()
        self._raise_if_error(first, model)
        yield Start(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}", model=model.id, created=int(time.time())
        )
        item = first
        reason: FinishReason = "stop"
        while item is not _END:
            choice = item["choices"][0]
            text = choice.get("delta", {}).get("content")
            if text:
                yield TextDelta(text=text)
            if choice.get("finish_reason"):
                reason = "length" if choice["finish_reason"] == "length" else "stop"
            item = await gen.queue.get()
            self._raise_if_error(item, model)
        yield Finish(reason=reason)
        # The end-of-turn token is sampled but is not part of the reply.
        completion = gen.sampled - (1 if reason == "stop" and gen.sampled else 0)
        yield UsageEvent(Usage(prompt_tokens=gen.prompt_tokens, completion_tokens=completion))

    @staticmethod
    def _raise_if_error(item: Any, model: ModelConfig) -> None:
        if not isinstance(item, Exception):
            return
        if isinstance(item, ValueError) and "context window" in str(item):
            raise UpstreamRejected(f"The messages are too long for model '{model.id}': {item}")
        raise UpstreamError(f"The local model failed: {item}") from item

    async def close(self) -> None:
        self._closed = True
        async with self._turn:
            llm, self._llm = self._llm, None
        if llm is not None:
            with _FD_SWAP_LOCK:
                llm.close()

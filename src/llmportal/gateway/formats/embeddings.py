"""OpenAI Embeddings <-> the internal model, both directions.

Client side: parse_request(body) -> EmbeddingRequest, render_response(result, base64).
Upstream side (the openai provider): build_request, parse_response. The upstream is always
asked for floats; base64 is encoded here, so every provider answers both encodings.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from llmportal.gateway.formats._common import (
    UpstreamFormatError,
    opt_int,
    opt_str,
    require_list,
    require_str,
)
from llmportal.gateway.types import EmbeddingRequest, Embeddings, FormatError

MAX_INPUTS = 2048  # OpenAI's own bound on a batch
_NUMBERS = {float, int}  # a set of the element types: ~10x faster than is_number per element


def parse_request(body: dict[str, Any]) -> EmbeddingRequest:
    if not isinstance(body, dict):
        raise FormatError("body: must be a JSON object")
    model = require_str(body, "model", "")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise FormatError("encoding_format: must be one of float, base64")
    return EmbeddingRequest(
        model=model,
        inputs=_inputs(body.get("input")),
        base64=fmt == "base64",
        dimensions=opt_int(body, "dimensions", minimum=1),
        user=opt_str(body, "user"),
    )


def _inputs(raw: Any) -> list[str] | list[list[int]]:
    if raw is None:
        raise FormatError("input is required")
    if isinstance(raw, str):
        raw = [raw]
    items = require_list(raw, "input", non_empty=True)
    if len(items) > MAX_INPUTS:
        raise FormatError(f"input: at most {MAX_INPUTS} items")
    if all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        return [_tokens(items, "input")]  # one token array
    if all(isinstance(i, str) for i in items):
        for i, text in enumerate(items):
            if not text:
                raise FormatError(f"input[{i}]: must not be empty")
        return list(items)
    if all(isinstance(i, list) for i in items):
        return [_tokens(item, f"input[{i}]") for i, item in enumerate(items)]
    raise FormatError("input: must be a string, an array of strings or of token arrays")


def _tokens(raw: list[Any], path: str) -> list[int]:
    if not raw:
        raise FormatError(f"{path}: must not be empty")
    for i, token in enumerate(raw):
        if not isinstance(token, int) or isinstance(token, bool) or token < 0:
            raise FormatError(f"{path}[{i}]: must be a token id (a non-negative integer)")
    return list(raw)


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def render_response(result: Embeddings, as_base64: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "model": result.model,
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": encode_base64(v) if as_base64 else v,
            }
            for i, v in enumerate(result.vectors)
        ],
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }


def build_request(req: EmbeddingRequest, upstream_model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": upstream_model,
        "input": req.inputs,
        "encoding_format": "float",
    }
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user is not None:
        body["user"] = req.user
    return body


def parse_response(body: Any, expected: int) -> Embeddings:
    """An upstream's embeddings list -> Embeddings, in input order."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UpstreamFormatError("upstream answer has no embeddings")
    vectors: dict[int, list[float]] = {}
    for i, item in enumerate(body["data"]):
        if not isinstance(item, dict):
            raise UpstreamFormatError(f"upstream embedding {i} is not an object")
        vector = item.get("embedding")
        if isinstance(vector, str):
            raw = base64.b64decode(vector)
            vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if not isinstance(vector, list) or not {type(x) for x in vector} <= _NUMBERS:
            raise UpstreamFormatError(f"upstream embedding {i} is not a list of numbers")
        index = item.get("index", i)
        vectors[index if isinstance(index, int) else i] = vector
    if sorted(vectors) != list(range(expected)):
        raise UpstreamFormatError(f"upstream answered {len(vectors)} embeddings for {expected}")
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    return Embeddings(
        model=str(body.get("model") or ""),
        vectors=[vectors[i] for i in range(expected)],
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
    )

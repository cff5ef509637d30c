"""The translation hooks a Preset switches on: an OpenAI-format request body adapted to its
upstream, and that upstream's stream chunks read back into OpenAI's shape."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from llmportal.gateway.providers.openai_presets import Preset

_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def mistral_tool_id(call_id: str) -> str:
    """A tool call id Mistral accepts (9 letters and digits). Its own ids pass unchanged; any
    other (from another provider, or made up by the portal) maps to the same 9 characters every
    time, so a call and its result still match, on this request and on the next."""
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    n = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "".join(chars)


def adapt_request(preset: Preset, body: dict[str, Any]) -> dict[str, Any]:
    """`body` (built by formats.openai.build_request) as `preset`'s upstream wants it."""
    for key in preset.drop_fields:
        body.pop(key, None)
    if preset.seed_field != "seed" and "seed" in body:
        body[preset.seed_field] = body.pop("seed")
    if body.get("tool_choice") == "required":
        body["tool_choice"] = preset.required_tool_choice
    if preset.tool_ids == "mistral" or preset.names_on_tools_only:
        for message in body.get("messages", []):
            _adapt_message(preset, message)
    body.update(preset.extra_body)
    return body


def _adapt_message(preset: Preset, message: dict[str, Any]) -> None:
    if preset.names_on_tools_only and message.get("role") != "tool":
        message.pop("name", None)
    if preset.tool_ids != "mistral":
        return
    for call in message.get("tool_calls") or []:
        call["id"] = mistral_tool_id(call["id"])
    if message.get("tool_call_id"):
        message["tool_call_id"] = mistral_tool_id(message["tool_call_id"])


def stream_chunk(preset: Preset, chunk: dict[str, Any]) -> dict[str, Any]:
    """A stream chunk with its usage where OpenAI puts it (Groq's is in `x_groq.usage`)."""
    if preset.stream_usage_key and not isinstance(chunk.get("usage"), dict):
        extra = chunk.get(preset.stream_usage_key)
        if isinstance(extra, dict) and isinstance(extra.get("usage"), dict):
            chunk["usage"] = extra["usage"]
    return chunk

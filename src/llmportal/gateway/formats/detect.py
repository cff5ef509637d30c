"""Which format a request body is in: Anthropic only on Anthropic-only markers.

Markers: a top-level `system` or `stop_sequences`; tools with `input_schema`; an Anthropic
`tool_choice` (`{"type": "auto" | "any" | "tool" | "none"}`); content blocks only Anthropic has
(`tool_use`, `tool_result`, `image` with a `source`, `document`, `thinking`). Everything else,
including OpenAI text parts with `max_tokens`, is OpenAI.
"""

from __future__ import annotations

from typing import Any, Literal

Format = Literal["openai", "anthropic"]

_ANTHROPIC_BLOCKS = {"tool_use", "tool_result", "document", "thinking", "redacted_thinking"}
_ANTHROPIC_CHOICES = {"auto", "any", "tool", "none"}


def detect_format(body: dict[str, Any]) -> Format:
    if not isinstance(body, dict):
        return "openai"
    if "system" in body or "stop_sequences" in body:
        return "anthropic"
    tools = body.get("tools")
    if isinstance(tools, list) and any(isinstance(t, dict) and "input_schema" in t for t in tools):
        return "anthropic"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in _ANTHROPIC_CHOICES:
        return "anthropic"
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            content = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(content, list) and any(_anthropic_block(b) for b in content):
                return "anthropic"
    return "openai"


def _anthropic_block(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    return kind in _ANTHROPIC_BLOCKS or (kind == "image" and "source" in block)

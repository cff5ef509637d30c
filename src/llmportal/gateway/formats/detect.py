"""Which format a request body is in: Anthropic only on Anthropic-only markers."""

from __future__ import annotations

from typing import Any, Literal

Format = Literal["openai", "anthropic"]


def detect_format(body: dict[str, Any]) -> Format:
    raise NotImplementedError

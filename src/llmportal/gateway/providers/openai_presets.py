"""Presets of the `openai` provider type: the defaults and the wire quirks of well-known
OpenAI-compatible upstreams. Pure data (config.py validates against it); the translation hooks
they switch on live in openai_quirks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    base_url: str
    key_env: str | None  # the usual environment variable of its key; None: needs no key
    # Whether a stream asks for the usage chunk (`stream_options.include_usage`); upstreams
    # that reject the field get none, and their usage comes from the stream itself or is
    # counted by the gateway.
    stream_options: bool = True
    # Where a stream's usage hides when not at the top level of a chunk.
    stream_usage_key: str | None = None
    required_tool_choice: str = "required"  # what `tool_choice: "required"` is called there
    # "mistral": tool call ids of exactly 9 letters and digits, both in and out.
    tool_ids: Literal["any", "mistral"] = "any"
    seed_field: str = "seed"
    drop_fields: tuple[str, ...] = ()  # request fields the upstream rejects
    names_on_tools_only: bool = False  # `name` allowed on tool messages only
    extra_body: dict[str, Any] = field(default_factory=dict)  # sent with every completion


OPENAI = Preset("openai", "", None)  # no preset: what the openai type does by itself

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("ollama", "http://127.0.0.1:11434/v1", None),
        Preset("vllm", "http://127.0.0.1:8000/v1", None),
        Preset("llamacpp-server", "http://127.0.0.1:8080/v1", None),
        Preset("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", stream_usage_key="x_groq"),
        Preset(
            "mistral",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            stream_options=False,
            required_tool_choice="any",
            tool_ids="mistral",
            seed_field="random_seed",
            drop_fields=("user",),
            names_on_tools_only=True,
        ),
        Preset("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        Preset(
            "openrouter",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            extra_body={"usage": {"include": True}},
        ),
        Preset("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    )
}


def preset_named(name: str | None) -> Preset:
    """The named preset (validated at start-up); no name: plain OpenAI behaviour."""
    return PRESETS[name] if name else OPENAI

"""The one internal model of a chat request, response and stream event.

Every wire format (gateway/formats/*) converts to and from these types, and every provider
(gateway/providers/*) converts these to its upstream's wire format: N formats + M providers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image by URL; `data:` URLs carry inline base64 (media_type names its type)."""

    url: str
    media_type: str | None = None
    detail: str | None = None
    type: Literal["image"] = "image"


Part = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object as text, as OpenAI carries it; Anthropic's input is parsed


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant only
    tool_call_id: str | None = None  # tool only: which call this is the result of
    name: str | None = None
    is_error: bool = False  # tool only: Anthropic's tool_result is_error

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def has_image(self) -> bool:
        return any(isinstance(p, ImagePart) for p in self.content)


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None  # with mode == "tool"


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    stream: bool = False
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    user: str | None = None
    # Other sampling parameters passed through to OpenAI-compatible upstreams as they came
    # (presence_penalty, frequency_penalty, logit_bias, response_format, top_k, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None  # llmportal: store the exchange in this chat session
    # llmportal: uploads (chat attachment or file ids) that go with the last user message
    attachment_ids: list[str] = field(default_factory=list)

    @property
    def has_image(self) -> bool:
        return any(m.has_image for m in self.messages)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    created: int
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)
    reasoning: str | None = None  # the model's reasoning, apart from its answer (DeepSeek's)


# Stream events: what a provider yields and a format renders, in order:
# Start, then any mix of TextDelta / ReasoningDelta / ToolCallStart / ToolCallDelta, then Finish,
# then UsageEvent
# (at most once, possibly before Finish when the upstream sends it so).


@dataclass(slots=True)
class Start:
    id: str
    model: str
    created: int


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (`reasoning_content`): never part of the answer."""

    text: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # 0-based position of this call in the reply's tool calls
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON arguments text


@dataclass(slots=True)
class Finish:
    reason: FinishReason


@dataclass(slots=True)
class UsageEvent:
    usage: Usage


StreamEvent = (
    Start | TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | Finish | UsageEvent
)


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    # Texts, or token arrays (in the model's own vocabulary) as OpenAI's API takes them.
    inputs: list[str] | list[list[int]]
    base64: bool = False  # encoding_format "base64": little-endian float32, base64-encoded
    dimensions: int | None = None
    user: str | None = None


@dataclass(slots=True)
class Embeddings:
    model: str
    vectors: list[list[float]]
    prompt_tokens: int = 0


@dataclass(slots=True)
class ImageRequest:
    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    b64_json: bool = False  # response_format "b64_json" (else "url")
    style: str | None = None
    user: str | None = None
    save_to_library: bool = False  # llmportal: keep each b64_json image as a library IMAGE


@dataclass(slots=True)
class GeneratedImage:
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None
    library_item_id: str | None = None  # llmportal: set once saved to the library


@dataclass(slots=True)
class Images:
    created: int
    images: list[GeneratedImage]
    prompt_tokens: int = 0  # what the upstream reports (gpt-image models do), else counted


class FormatError(ValueError):
    """A request body that does not fit its format; the message names the field."""

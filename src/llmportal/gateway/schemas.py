"""The completion bodies as /openapi.json describes them.

The completion endpoints read their body themselves (formats/openai.py, formats/anthropic.py
parse and name the bad field), and answer with the dicts the formats render: these models are
the documentation of both, never a validation on the hot path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, BaseModel, Field

from llmportal.gateway.formats._common import MAX_ATTACHMENTS
from llmportal.gateway.types import FinishReason
from llmportal.openapi import AUTHENTICATED, ResponseModel, errors, json_body

_SESSION_ID = "llmportal: store the exchange in this chat session"
_ATTACHMENTS = "llmportal: ids of the caller's uploads, sent with the last user message"


# --- OpenAI Chat Completions ---------------------------------------------------------------


class ImageUrl(BaseModel):
    url: str = Field(description="http(s) or data:image/...;base64,...")
    detail: Literal["auto", "low", "high"] | None = None


class OpenAIContentPart(BaseModel):
    type: Literal["text", "refusal", "image_url"]
    text: str | None = None
    refusal: str | None = None
    image_url: ImageUrl | str | None = Field(default=None, description="user messages only")


class FunctionCall(BaseModel):
    name: str
    arguments: str | dict[str, Any] = Field(default="", description="a JSON text")


class OpenAIToolCallIn(BaseModel):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class OpenAIMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[OpenAIContentPart] | None = Field(
        default=None, description="required except on an assistant message with tool_calls"
    )
    name: str | None = None
    tool_calls: list[OpenAIToolCallIn] | None = Field(default=None, description="assistant")
    tool_call_id: str | None = Field(default=None, description="tool: the call answered")


class FunctionDef(BaseModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="a JSON Schema object for the arguments"
    )


class OpenAITool(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(BaseModel):
    name: str


class ForcedFunction(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(BaseModel):
    include_usage: bool | None = None


class ChatCompletionRequest(BaseModel):
    """An OpenAI Chat Completions body. Unknown fields are ignored; the sampling options an
    OpenAI-compatible upstream understands (presence_penalty, logit_bias, response_format,
    top_k, ...) are passed on."""

    model: str
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: Literal[1] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    tools: list[OpenAITool] | None = None
    tool_choice: Literal["auto", "none", "required"] | ForcedFunction | None = None
    parallel_tool_calls: bool | None = None
    session_id: str | None = Field(default=None, description=_SESSION_ID)
    attachments: list[str] | None = Field(
        default=None, max_length=MAX_ATTACHMENTS, description=_ATTACHMENTS
    )


class CalledFunction(ResponseModel):
    name: str
    arguments: str = Field(description="a JSON text")


class OpenAIToolCall(ResponseModel):
    id: str
    index: int
    type: Literal["function"]
    function: CalledFunction


class AssistantMessage(ResponseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[OpenAIToolCall] | MISSING = MISSING


class Choice(ResponseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason


class CompletionUsage(ResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(ResponseModel):
    """An OpenAI `chat.completion` (with `stream: true`, `chat.completion.chunk` SSE events
    and `data: [DONE]` instead)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


# --- Anthropic Messages --------------------------------------------------------------------


class ImageSource(BaseModel):
    type: Literal["base64", "url"]
    media_type: str | None = Field(default=None, description="base64: an image/* type")
    data: str | None = Field(default=None, description="base64: the image bytes")
    url: str | None = Field(default=None, description="url: http(s) or a data: URL")


class AnthropicBlock(BaseModel):
    """A content block: text, image, tool_use (assistant), tool_result (user)."""

    type: Literal["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]
    text: str | None = None
    source: ImageSource | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None
    content: str | list[dict[str, Any]] | None = None
    is_error: bool | None = None


class AnthropicMessageIn(BaseModel):
    role: Literal["user", "assistant"]
    content: str | list[AnthropicBlock]


class SystemText(BaseModel):
    type: Literal["text"]
    text: str


class AnthropicTool(BaseModel):
    type: Literal["custom"] | None = None
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(description="a JSON Schema object for the input")


class AnthropicToolChoice(BaseModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(default=None, description="type tool: the tool to call")
    disable_parallel_tool_use: bool | None = None


class RequestMetadata(BaseModel):
    user_id: str | None = None


class MessagesRequest(BaseModel):
    """An Anthropic Messages body. `POST /api/chat/completions` and `/v1/chat/completions`
    take it when it carries an Anthropic-only marker (`system`, `stop_sequences`, tools with
    `input_schema`, an Anthropic `tool_choice`, tool_use / tool_result / image source blocks)."""

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessageIn] = Field(min_length=1)
    system: str | list[SystemText] | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None
    metadata: RequestMetadata | None = None
    session_id: str | None = Field(default=None, description=_SESSION_ID)
    attachments: list[str] | None = Field(
        default=None, max_length=MAX_ATTACHMENTS, description=_ATTACHMENTS
    )


class CountTokensRequest(MessagesRequest):
    """A Messages body to count: `max_tokens` may be left out."""

    max_tokens: int | None = Field(default=None, ge=1)  # type: ignore[assignment]


class TokenCount(ResponseModel):
    input_tokens: int = Field(description="the prompt's tokens, as the quota counts them")


class TextBlock(ResponseModel):
    type: Literal["text"]
    text: str


class ToolUseBlock(ResponseModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class AnthropicUsage(ResponseModel):
    input_tokens: int
    output_tokens: int


class AnthropicMessage(ResponseModel):
    """An Anthropic `message` (with `stream: true`, the Anthropic SSE event sequence)."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[TextBlock | ToolUseBlock]
    stop_reason: Literal["end_turn", "max_tokens", "tool_use", "refusal"]
    stop_sequence: None
    usage: AnthropicUsage


# --- OpenAI Responses ------------------------------------------------------------------------


class ResponsesTool(BaseModel):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesRequest(BaseModel):
    """An OpenAI Responses body, stateless: `input` is the whole conversation (a text, or
    `message`, `function_call` and `function_call_output` items); `previous_response_id`
    and `conversation` answer 400, and nothing is stored."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[ResponsesTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = None
    text: dict[str, Any] | None = Field(
        default=None, description="`format`: text, json_object or json_schema"
    )
    metadata: dict[str, str] | None = None
    store: bool | None = Field(default=None, description="accepted; nothing is ever stored")
    user: str | None = None


class EchoedTool(ResponseModel):
    type: Literal["function"]
    name: str
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None


class ResponsesUsage(ResponseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int]


class ResponseObject(ResponseModel):
    """A `response` (with `stream: true`, its typed event sequence, ending with
    `response.completed` or `response.incomplete`)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress"]
    model: str
    output: list[dict[str, Any]] = Field(
        description="`message` items (output_text parts) and `function_call` items"
    )
    usage: ResponsesUsage | None
    incomplete_details: dict[str, str] | None
    completed_at: int | None
    error: None
    store: Literal[False]
    previous_response_id: None
    reasoning: dict[str, str | None]
    truncation: Literal["disabled"]
    instructions: str | None = Field(description="echoed from the request, as are the rest")
    max_output_tokens: int | None
    metadata: dict[str, str]
    parallel_tool_calls: bool
    temperature: float | None
    text: dict[str, Any]
    tool_choice: str | dict[str, Any]
    tools: list[EchoedTool]
    top_p: float | None
    user: str | None


# --- OpenAI Embeddings ---------------------------------------------------------------------


class EmbeddingsRequest(BaseModel):
    model: str
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="a text, texts, or token arrays (in the model's own vocabulary)"
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


class Embedding(ResponseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32")


class EmbeddingsUsage(ResponseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(ResponseModel):
    object: Literal["list"]
    model: str
    data: list[Embedding]
    usage: EmbeddingsUsage


# --- OpenAI Images -------------------------------------------------------------------------


class ImagesRequest(BaseModel):
    model: str
    prompt: str = Field(max_length=32_000)
    n: int | None = Field(default=None, ge=1, le=10)
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None
    save_to_library: bool | None = Field(
        default=None,
        description="llmportal: keep each image in the caller's library as an IMAGE item "
        "(needs response_format b64_json and the key's `library` permission)",
    )


class GeneratedImageOut(ResponseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None
    library_item_id: str | None = Field(default=None, description="llmportal: the saved item")


class ImagesResponse(ResponseModel):
    created: int
    data: list[GeneratedImageOut]


# --- model lists ---------------------------------------------------------------------------


class ModelCapabilities(ResponseModel):
    chat: bool = Field(description="chat completions and the Responses API")
    embeddings: bool = Field(description="POST /v1/embeddings")
    images: bool = Field(description="POST /v1/images/generations")
    vision: bool = Field(description="images in the messages")
    tools: bool = Field(description="function / tool calls (the local model cannot call tools)")


class OpenAIModel(ResponseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    capabilities: ModelCapabilities


class OpenAIModelList(ResponseModel):
    object: Literal["list"]
    data: list[OpenAIModel]


class PortalModel(ResponseModel):
    id: str
    owned_by: str
    capabilities: ModelCapabilities


class PortalModelList(ResponseModel):
    data: list[PortalModel]


# --- streams -------------------------------------------------------------------------------

# One event of a `stream: true` answer (schemathesis, like OpenAPI 3.2's itemSchema, reads the
# event stream's schema as the schema of each event).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {
            "type": "string",
            "description": "The event's type in the Anthropic format; an event without one "
            "(OpenAI format, and the closing data-only events) is a `message`",
            "enum": [
                "message",
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
                "error",
            ],
        },
        "data": {
            "type": "string",
            "description": "One JSON object: an OpenAI `chat.completion.chunk`, or the Anthropic "
            'event; an error after the first byte is `{"error": {"message": ...}}`. '
            "OpenAI streams (and errors in either format) end with `[DONE]`.",
        },
    },
}


RESPONSES_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {
            "type": "string",
            "description": "The event's type, repeated as `type` in its data",
            "enum": [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
                "response.incomplete",
                "error",
            ],
        },
        "data": {
            "type": "string",
            "description": "One JSON object with `type` and `sequence_number`; a failure after "
            'the first byte is an `error` event (`{"error": {"message": ...}}`) and `[DONE]`',
        },
    },
}


# --- what the completion routes declare -----------------------------------------------------

# The handlers read the body and answer a Response (JSON or SSE) themselves: documented, not
# validated. chat_principal authenticates in a transaction of its own, not through
# CurrentPrincipal, so the security is named here. An upstream failing before the first byte
# is 502, timing out 504.
DETECTED_BODY = {**json_body(ChatCompletionRequest, MessagesRequest), **AUTHENTICATED}
ANTHROPIC_BODY = {**json_body(MessagesRequest), **AUTHENTICATED}
_ERRORS = errors(400, 401, 403, 404, 413, 429, 502, 503, 504)
_SSE = {"text/event-stream": {"schema": SSE_EVENT}}
DETECTED_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatCompletion | AnthropicMessage,
        "description": "The completion, in the format of the request; SSE with `stream: true`",
        "content": _SSE,
    },
    **_ERRORS,
}
COUNT_BODY = {**json_body(ChatCompletionRequest, CountTokensRequest), **AUTHENTICATED}
ANTHROPIC_COUNT_BODY = {**json_body(CountTokensRequest), **AUTHENTICATED}
COUNT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": TokenCount, "description": "The prompt's token count"},
    **errors(400, 401, 403, 404, 413, 429),
}
RESPONSES_BODY = {**json_body(ResponsesRequest), **AUTHENTICATED}
RESPONSES_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ResponseObject,
        "description": "The response; its typed SSE events with `stream: true`",
        "content": {"text/event-stream": {"schema": RESPONSES_EVENT}},
    },
    **_ERRORS,
}
EMBEDDINGS_BODY = {**json_body(EmbeddingsRequest), **AUTHENTICATED}
EMBEDDINGS_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": EmbeddingList, "description": "One embedding per input, in input order"},
    **_ERRORS,
}
IMAGES_BODY = {**json_body(ImagesRequest), **AUTHENTICATED}
IMAGES_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": ImagesResponse, "description": "The images, by URL or base64"},
    **_ERRORS,
}
ANTHROPIC_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": AnthropicMessage,
        "description": "The message; the Anthropic SSE event sequence with `stream: true`",
        "content": _SSE,
    },
    **_ERRORS,
}

"""Anthropic Messages, upstream side: ChatRequest -> an Anthropic body, an Anthropic message ->
ChatResponse. Re-exported by anthropic.py."""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    UpstreamFormatError,
    arguments_to_input,
    input_to_arguments,
    message_id,
    now,
    split_data_url,
)
from llmportal.gateway.formats.anthropic_stream import (
    map_stop_reason,
    usage_input_tokens,
    usage_output_tokens,
)
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    Message,
    Part,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

DEFAULT_MAX_TOKENS = 4096


def build_request(
    req: ChatRequest, upstream_model: str, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """ChatRequest -> an Anthropic-format body for an upstream.

    System messages (wherever they stand) join the top-level `system`; consecutive tool results
    and a user message after them merge into one user message (tool_result blocks first).
    Anthropic takes no unknown parameters: of `extra`, only `top_k` goes on.
    """
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": req.max_tokens or default_max_tokens,
    }
    system = "\n\n".join(m.text for m in req.messages if m.role == "system" and m.text)
    if system:
        body["system"] = system
    body["messages"] = _render_messages([m for m in req.messages if m.role != "system"])
    if req.tools:
        body["tools"] = [_render_tool(t) for t in req.tools]
    choice = _render_tool_choice(req)
    if choice is not None:
        body["tool_choice"] = choice
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.temperature is not None:
        # OpenAI clients may send up to 2; Anthropic refuses anything above 1.
        body["temperature"] = min(req.temperature, 1.0)
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.extra.get("top_k") is not None:
        body["top_k"] = req.extra["top_k"]
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body


def _render_tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters
    return out


def _render_tool_choice(req: ChatRequest) -> dict[str, Any] | None:
    choice = req.tool_choice
    if choice is None and (req.parallel_tool_calls is not False or not req.tools):
        return None
    mode = choice.mode if choice else "auto"
    out: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if mode == "tool":
        out["name"] = choice.name if choice else None
    if req.parallel_tool_calls is False and mode != "none" and req.tools:
        out["disable_parallel_tool_use"] = True
    return out


def _render_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "assistant":
            out.append({"role": "assistant", "content": _assistant_blocks(msg)})
            continue
        if msg.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": msg.tool_call_id,
                "content": _result_content(msg),
            }
            if msg.is_error:
                block["is_error"] = True
            blocks = [block]
        else:
            blocks = [_render_part(p) for p in msg.content]
        previous = out[-1] if out else None
        if previous and previous["role"] == "user" and _ends_with_result(previous):
            previous["content"].extend(blocks)
        elif msg.role == "user" and len(blocks) == 1 and blocks[0]["type"] == "text":
            out.append({"role": "user", "content": blocks[0]["text"]})
        else:
            out.append({"role": "user", "content": blocks})
    return out


def _ends_with_result(msg: dict[str, Any]) -> bool:
    content = msg["content"]
    return isinstance(content, list) and bool(content) and content[-1]["type"] == "tool_result"


def _assistant_blocks(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": p.text} for p in msg.content if isinstance(p, TextPart) and p.text
    ]
    for call in msg.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": arguments_to_input(call.arguments),
            }
        )
    return blocks or [{"type": "text", "text": msg.text}]


def _result_content(msg: Message) -> str | list[dict[str, Any]]:
    if not msg.has_image:
        return msg.text
    return [_render_part(p) for p in msg.content]


def _render_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    data = split_data_url(part.url)
    if data is not None:
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": data[0], "data": data[1]},
        }
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def parse_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream's Anthropic `message` -> ChatResponse.

    Raises UpstreamFormatError (a 502 for the runtime) for an error body or a malformed one.
    """
    if not isinstance(body, dict):
        raise UpstreamFormatError("upstream answer is not a JSON object")
    if body.get("type") == "error" or body.get("error"):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise UpstreamFormatError(message if isinstance(message, str) else str(error))
    content = body.get("content")
    if not isinstance(content, list):
        raise UpstreamFormatError("upstream message has no content")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append(
                ToolCall(
                    id=str(block.get("id")),
                    name=str(block.get("name")),
                    arguments=input_to_arguments(block.get("input")),
                )
            )
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    return ChatResponse(
        id=str(body.get("id") or message_id()),
        model=str(body.get("model") or ""),
        created=now(),
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=map_stop_reason(body.get("stop_reason")),
        usage=Usage(
            prompt_tokens=usage_input_tokens(usage), completion_tokens=usage_output_tokens(usage)
        ),
    )

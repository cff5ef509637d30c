"""Anthropic Messages <-> the internal model, both directions, streaming included.

Client side (the portal's own API): parse_request, render_response, render_stream.
Upstream side (the anthropic provider): build_request, parse_response, StreamParser.
The streaming half lives in anthropic_stream.py and is re-exported here.

Tool call arguments: OpenAI carries a JSON text, Anthropic a parsed `input` object. Arguments
that are not a JSON object travel to Anthropic as `{"_raw": "<text>"}` and come back unchanged.
"""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    UpstreamFormatError,
    arguments_to_input,
    attachment_ids,
    image_url_error,
    input_to_arguments,
    json_schema,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    require_list,
    require_obj,
    require_str,
    split_data_url,
    str_list,
)
from llmportal.gateway.formats.anthropic_stream import (
    STOP_REASONS,
    StreamParser,
    anthropic_id,
    render_stream,
    render_stream_error,
)
from llmportal.gateway.formats.anthropic_upstream import (
    DEFAULT_MAX_TOKENS,
    build_request,
    parse_response,
)
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    FormatError,
    ImagePart,
    Message,
    Part,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "StreamParser",
    "UpstreamFormatError",
    "build_request",
    "parse_request",
    "parse_response",
    "render_response",
    "render_stream",
    "render_stream_error",
]


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A client's Anthropic-format body -> ChatRequest. Raises FormatError naming the field.

    A user message with tool_result blocks becomes one role=tool message per block, followed by
    one user message with the remaining text and images (if any).
    """
    if not isinstance(body, dict):
        raise FormatError("body: must be a JSON object")
    model = require_str(body, "model", "")
    if body.get("max_tokens") is None:
        raise FormatError("max_tokens is required")
    max_tokens = opt_int(body, "max_tokens", minimum=1)
    if body.get("messages") is None:
        raise FormatError("messages is required")
    raw_messages = require_list(body["messages"], "messages", non_empty=True)
    messages = _parse_system(body.get("system"))
    for i, raw in enumerate(raw_messages):
        messages.extend(_parse_message(raw, f"messages[{i}]"))
    tools = _parse_tools(body.get("tools"))
    choice, parallel = _parse_tool_choice(body.get("tool_choice"), tools)
    metadata = body.get("metadata")
    user = None
    if metadata is not None:
        user = opt_str(require_obj(metadata, "metadata"), "user_id", "metadata.")
    extra: dict[str, Any] = {}
    top_k = opt_int(body, "top_k", minimum=0)
    if top_k is not None:
        extra["top_k"] = top_k
    stop = body.get("stop_sequences")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(opt_bool(body, "stream")),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=opt_number(body, "temperature", 0, 1),
        top_p=opt_number(body, "top_p", 0, 1),
        stop=[] if stop is None else str_list(stop, "stop_sequences"),
        user=user,
        extra=extra,
        session_id=opt_str(body, "session_id"),
        attachment_ids=attachment_ids(body),
    )


def _parse_system(raw: Any) -> list[Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Message(role="system", content=[TextPart(raw)])] if raw else []
    parts: list[Part] = []
    for i, item in enumerate(require_list(raw, "system")):
        block = require_obj(item, f"system[{i}]")
        if block.get("type") != "text":
            raise FormatError(f"system[{i}].type: must be 'text'")
        parts.append(TextPart(require_str(block, "text", f"system[{i}].", non_empty=False)))
    return [Message(role="system", content=parts)] if parts else []


def _parse_message(raw: Any, path: str) -> list[Message]:
    msg = require_obj(raw, path)
    role = msg.get("role")
    if role not in ("user", "assistant"):
        raise FormatError(f"{path}.role: must be one of user, assistant")
    content = msg.get("content")
    if content is None:
        raise FormatError(f"{path}.content is required")
    if isinstance(content, str):
        return [Message(role=role, content=[TextPart(content)])]
    blocks = require_list(content, f"{path}.content")
    if role == "assistant":
        return [_parse_assistant(blocks, f"{path}.content")]
    results: list[Message] = []
    parts: list[Part] = []
    for i, item in enumerate(blocks):
        where = f"{path}.content[{i}]"
        block = require_obj(item, where)
        kind = block.get("type")
        if kind == "tool_result":
            results.append(_parse_tool_result(block, where))
        elif kind in ("text", "image"):
            parts.append(_parse_part(block, where))
        else:
            raise FormatError(f"{where}.type: must be one of text, image, tool_result")
    if parts or not results:
        results.append(Message(role="user", content=parts))
    return results


def _parse_assistant(blocks: list[Any], path: str) -> Message:
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for i, item in enumerate(blocks):
        where = f"{path}[{i}]"
        block = require_obj(item, where)
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(require_str(block, "text", f"{where}.", non_empty=False)))
        elif kind == "tool_use":
            call_id = require_str(block, "id", f"{where}.")
            name = require_str(block, "name", f"{where}.")
            arguments = input_to_arguments(require_obj(block.get("input", {}), f"{where}.input"))
            calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # a model's reasoning: no other format or provider can take it back
        else:
            raise FormatError(f"{where}.type: must be one of text, tool_use")
    return Message(role="assistant", content=parts, tool_calls=calls)


def _parse_part(block: dict[str, Any], path: str) -> Part:
    if block["type"] == "text":
        return TextPart(require_str(block, "text", f"{path}.", non_empty=False))
    source = require_obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type = require_str(source, "media_type", f"{path}.source.")
        if not media_type.startswith("image/"):
            raise FormatError(f"{path}.source.media_type: must be an image type")
        data = require_str(source, "data", f"{path}.source.")
        return ImagePart(url=f"data:{media_type};base64,{data}", media_type=media_type)
    if kind == "url":
        url = require_str(source, "url", f"{path}.source.")
        problem = image_url_error(url)
        if problem:
            raise FormatError(f"{path}.source.url: {problem}")
        data_url = split_data_url(url)
        return ImagePart(url=url, media_type=data_url[0] if data_url else None)
    raise FormatError(f"{path}.source.type: must be one of base64, url")


def _parse_tool_result(block: dict[str, Any], path: str) -> Message:
    call_id = require_str(block, "tool_use_id", f"{path}.")
    content = block.get("content")
    parts: list[Part] = []
    if isinstance(content, str):
        parts.append(TextPart(content))
    elif content is not None:
        for i, item in enumerate(require_list(content, f"{path}.content")):
            where = f"{path}.content[{i}]"
            inner = require_obj(item, where)
            if inner.get("type") not in ("text", "image"):
                raise FormatError(f"{where}.type: must be one of text, image")
            parts.append(_parse_part(inner, where))
    is_error = bool(opt_bool(block, "is_error", f"{path}."))
    return Message(role="tool", content=parts, tool_call_id=call_id, is_error=is_error)


def _parse_tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools = []
    for i, item in enumerate(require_list(raw, "tools")):
        where = f"tools[{i}]"
        tool = require_obj(item, where)
        if tool.get("type", "custom") != "custom":
            raise FormatError(f"{where}.type: only custom tools (with input_schema) are supported")
        name = require_str(tool, "name", f"{where}.")
        if tool.get("input_schema") is None:
            raise FormatError(f"{where}.input_schema is required")
        schema = json_schema(tool["input_schema"], f"{where}.input_schema")
        description = opt_str(tool, "description", f"{where}.")
        tools.append(Tool(name=name, description=description, parameters=schema))
    return tools


def _parse_tool_choice(raw: Any, tools: list[Tool]) -> tuple[ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    choice = require_obj(raw, "tool_choice")
    kind = choice.get("type")
    disable = opt_bool(choice, "disable_parallel_tool_use", "tool_choice.")
    parallel = None if disable is None else not disable
    if kind in ("auto", "none"):
        return ToolChoice(mode=kind), parallel
    if kind == "any":
        if not tools:
            raise FormatError("tool_choice: 'any' needs tools")
        return ToolChoice(mode="required"), parallel
    if kind == "tool":
        name = require_str(choice, "name", "tool_choice.")
        if name not in {t.name for t in tools}:
            raise FormatError(f"tool_choice.name: no tool named '{name}'")
        return ToolChoice(mode="tool", name=name), parallel
    raise FormatError("tool_choice.type: must be one of auto, any, tool, none")


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """ChatResponse -> an Anthropic `message` object."""
    content: list[dict[str, Any]] = []
    if resp.content or not resp.tool_calls:
        content.append({"type": "text", "text": resp.content or ""})
    for call in resp.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": arguments_to_input(call.arguments),
            }
        )
    return {
        "id": anthropic_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": STOP_REASONS[resp.finish_reason],
        "stop_sequence": None,
        "usage": {
            "input_tokens": resp.usage.prompt_tokens,
            "output_tokens": resp.usage.completion_tokens,
        },
    }

"""OpenAI Responses API (client side only) <-> the internal model.

A Responses request becomes a ChatRequest like any other, so it reaches every provider type
(OpenAI, Anthropic, the local model). Stateless: nothing is stored, `store` is answered false,
and `previous_response_id` / `conversation` are refused (the client sends the whole input).

The answer echoes some request fields (instructions, tools, tool_choice, ...): `echo(body)`
picks them at parse time and the renderers merge them into every Response object they write.
The streaming half lives in responses_stream.py and is re-exported here.
"""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    forced_tool_choice,
    function_tool,
    image_url_error,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    option_tool_choice,
    require_list,
    require_obj,
    require_str,
    split_data_url,
)
from llmportal.gateway.formats.responses_stream import (
    StreamRenderer,
    item_id,
    render_stream,
    render_stream_error,
    response_id,
    response_object,
    usage_body,
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
from llmportal.jsonio import dumps_str

__all__ = [
    "StreamRenderer",
    "echo",
    "parse_request",
    "render_response",
    "render_stream",
    "render_stream_error",
]

_ROLES = ("user", "assistant", "system", "developer")
# Fields of a stored or background response: there is no store to read them from.
_STATEFUL = ("previous_response_id", "conversation", "prompt")
_TEXT_PARTS = ("input_text", "output_text", "text")


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A client's Responses body -> ChatRequest. Raises FormatError naming the field."""
    if not isinstance(body, dict):
        raise FormatError("body: must be a JSON object")
    for key in _STATEFUL:
        if body.get(key) is not None:
            raise FormatError(
                f"{key}: not supported: this portal's Responses API is stateless "
                "(store: false); send the whole conversation in input"
            )
    if body.get("background") is True:
        raise FormatError("background: not supported; use stream: true for long answers")
    model = require_str(body, "model", "")
    messages: list[Message] = []
    instructions = opt_str(body, "instructions")
    if instructions:
        messages.append(Message(role="system", content=[TextPart(instructions)]))
    raw_input = body.get("input")
    if raw_input is None:
        raise FormatError("input is required")
    if isinstance(raw_input, str):
        messages.append(Message(role="user", content=[TextPart(raw_input)]))
    else:
        items = require_list(raw_input, "input", non_empty=True)
        for i, item in enumerate(items):
            _add_item(messages, item, f"input[{i}]")
    if not any(m.role != "system" for m in messages):
        raise FormatError("input: must hold at least one message or tool output")
    tools = _parse_tools(body.get("tools"))
    extra: dict[str, Any] = {}
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        extra["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        extra["reasoning_effort"] = reasoning["effort"]
    opt_bool(body, "store")
    opt_bool(body, "stream")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=body.get("stream") is True,
        tools=tools,
        tool_choice=_parse_tool_choice(body.get("tool_choice"), tools),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls"),
        max_tokens=opt_int(body, "max_output_tokens", minimum=1),
        temperature=opt_number(body, "temperature", 0, 2),
        top_p=opt_number(body, "top_p", 0, 1),
        user=opt_str(body, "user") or opt_str(body, "safety_identifier"),
        extra=extra,
    )


def echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a Response object repeats (call after parse_request accepted body)."""
    metadata = body.get("metadata")
    choice = body.get("tool_choice")
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": metadata if isinstance(metadata, dict) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "temperature": body.get("temperature"),
        "text": body["text"]
        if isinstance(body.get("text"), dict)
        else {"format": {"type": "text"}},
        "tool_choice": choice if choice is not None else "auto",
        "tools": [_echo_tool(t) for t in body.get("tools") or []],
        "top_p": body.get("top_p"),
        "user": body.get("user"),
    }


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "function", "name": tool["name"], "parameters": tool.get("parameters")}
    out["strict"] = tool.get("strict")
    out["description"] = tool.get("description")
    return out


def _add_item(messages: list[Message], raw: Any, path: str) -> None:
    item = require_obj(raw, path)
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        messages.append(_parse_message(item, path))
    elif kind == "function_call":
        name = require_str(item, "name", f"{path}.")
        call_id = require_str(item, "call_id", f"{path}.")
        arguments = item.get("arguments", "")
        if isinstance(arguments, dict):
            arguments = dumps_str(arguments)
        elif not isinstance(arguments, str):
            raise FormatError(f"{path}.arguments: must be a JSON string")
        call = ToolCall(id=call_id, name=name, arguments=arguments)
        last = messages[-1] if messages else None
        # Parallel calls arrive as consecutive items: one assistant turn holds them all.
        if last is not None and last.role == "assistant":
            last.tool_calls.append(call)
        else:
            messages.append(Message(role="assistant", tool_calls=[call]))
    elif kind == "function_call_output":
        call_id = require_str(item, "call_id", f"{path}.")
        text = _output_text(item.get("output"), f"{path}.output")
        messages.append(Message(role="tool", content=[TextPart(text)], tool_call_id=call_id))
    elif kind == "reasoning":
        return  # a reasoning model's summary of its thinking: not input for the next turn
    elif kind == "item_reference":
        raise FormatError(f"{path}.type: item_reference needs stored responses; send the item")
    else:
        allowed = "message, function_call, function_call_output, reasoning"
        raise FormatError(f"{path}.type: must be one of {allowed}")


def _parse_message(item: dict[str, Any], path: str) -> Message:
    role = item.get("role")
    if role not in _ROLES:
        raise FormatError(f"{path}.role: must be one of {', '.join(_ROLES)}")
    content = item.get("content")
    if content is None:
        raise FormatError(f"{path}.content is required")
    parts = _parse_content(content, f"{path}.content", images=role == "user")
    if role == "assistant":
        return Message(role="assistant", content=parts)
    return Message(role="user" if role == "user" else "system", content=parts)


def _parse_content(content: Any, path: str, *, images: bool) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for i, raw in enumerate(require_list(content, path)):
        where = f"{path}[{i}]"
        part = require_obj(raw, where)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            parts.append(TextPart(require_str(part, "text", f"{where}.", non_empty=False)))
        elif kind == "refusal":
            parts.append(TextPart(require_str(part, "refusal", f"{where}.", non_empty=False)))
        elif kind == "input_image" and images:
            parts.append(_parse_image(part, where))
        else:
            allowed = "input_text, input_image" if images else "input_text, output_text"
            raise FormatError(f"{where}.type: must be one of {allowed}")
    return parts


def _parse_image(part: dict[str, Any], path: str) -> ImagePart:
    if part.get("file_id") is not None and part.get("image_url") is None:
        raise FormatError(
            f"{path}.file_id: not supported; send image_url (an http(s) or data: URL)"
        )
    url = require_str(part, "image_url", f"{path}.")
    problem = image_url_error(url)
    if problem:
        raise FormatError(f"{path}.image_url: {problem}")
    detail = opt_str(part, "detail", f"{path}.")
    data = split_data_url(url)
    return ImagePart(
        url=url,
        media_type=data[0] if data else None,
        detail=detail if detail in ("low", "high") else None,
    )


def _output_text(output: Any, path: str) -> str:
    if isinstance(output, str):
        return output
    texts = []
    for i, raw in enumerate(require_list(output, path)):
        part = require_obj(raw, f"{path}[{i}]")
        if part.get("type") not in _TEXT_PARTS:
            raise FormatError(f"{path}[{i}].type: must be input_text")
        texts.append(require_str(part, "text", f"{path}[{i}].", non_empty=False))
    return "".join(texts)


def _parse_tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools = []
    for i, item in enumerate(require_list(raw, "tools")):
        where = f"tools[{i}]"
        tool = require_obj(item, where)
        if tool.get("type") != "function":
            raise FormatError(f"{where}.type: only 'function' tools are supported")
        opt_bool(tool, "strict", f"{where}.")
        tools.append(function_tool(tool, where))
    return tools


def _parse_tool_choice(raw: Any, tools: list[Tool]) -> ToolChoice | None:
    if raw is None:
        return None
    option = option_tool_choice(raw, tools)
    if option is not None:
        return option
    if isinstance(raw, dict) and raw.get("type") == "function":
        name = require_str(raw, "name", "tool_choice.")
        return forced_tool_choice(name, tools, "tool_choice.")
    raise FormatError(
        'tool_choice: must be "auto", "none", "required" or {"type": "function", "name": ...}'
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    """`text.format` -> the Chat Completions `response_format` every OpenAI upstream knows."""
    if text is None:
        return None
    fmt = require_obj(text, "text").get("format")
    if fmt is None:
        return None
    fmt = require_obj(fmt, "text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name = require_str(fmt, "name", "text.format.")
        schema = require_obj(fmt.get("schema"), "text.format.schema")
        spec: dict[str, Any] = {"name": name, "schema": schema}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                spec[key] = fmt[key]
        return {"type": "json_schema", "json_schema": spec}
    raise FormatError("text.format.type: must be one of text, json_object, json_schema")


def render_response(resp: ChatResponse, echoed: dict[str, Any]) -> dict[str, Any]:
    """ChatResponse -> a `response` object with its output items."""
    output: list[dict[str, Any]] = []
    if resp.content or not resp.tool_calls:
        output.append(
            {
                "id": item_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": resp.content or "", "annotations": []}],
            }
        )
    for call in resp.tool_calls:
        output.append(
            {
                "id": item_id("fc"),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    return response_object(
        echoed,
        response_id(resp.id),
        resp.created,
        resp.model,
        output=output,
        reason=resp.finish_reason,
        usage=usage_body(resp.usage),
    )

"""OpenAI Chat Completions <-> the internal model, both directions, streaming included.

Client side (the portal's own API): parse_request, render_response, render_stream.
Upstream side (the openai provider): build_request, parse_response, StreamParser.
The streaming half lives in openai_stream.py and is re-exported here.
"""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    UpstreamFormatError,
    attachment_ids,
    completion_id,
    forced_tool_choice,
    function_tool,
    image_url_error,
    is_number,
    now,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    option_tool_choice,
    portal_tool_call_id,
    require_list,
    require_obj,
    require_str,
    split_data_url,
    str_list,
)
from llmportal.gateway.formats.openai_stream import (
    StreamParser,
    map_finish_reason,
    reasoning_text,
    render_stream,
    render_stream_error,
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
    Usage,
)
from llmportal.jsonio import dumps_str

__all__ = [
    "StreamParser",
    "UpstreamFormatError",
    "build_request",
    "parse_request",
    "parse_response",
    "render_response",
    "render_stream",
    "render_stream_error",
    "wants_stream_usage",
]

_ROLES = ("system", "developer", "user", "assistant", "tool")

# Sampling and output options an OpenAI-compatible upstream understands: kept in
# ChatRequest.extra and sent on as they came. Other unknown keys are ignored.
PASSTHROUGH = (
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "reasoning_effort",
    "top_k",
    "min_p",
    "repetition_penalty",
)


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """A client's OpenAI-format body -> ChatRequest. Raises FormatError naming the field."""
    if not isinstance(body, dict):
        raise FormatError("body: must be a JSON object")
    model = require_str(body, "model", "")
    if body.get("messages") is None:
        raise FormatError("messages is required")
    raw_messages = require_list(body["messages"], "messages", non_empty=True)
    messages = [_parse_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages)]
    tools = _parse_tools(body.get("tools"))
    n = body.get("n")
    if n is not None and n != 1:
        raise FormatError("n: only 1 is supported")
    max_tokens = opt_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", minimum=1)
    stop = body.get("stop")
    extra = {k: body[k] for k in PASSTHROUGH if body.get(k) is not None}
    if "response_format" in extra:
        require_obj(extra["response_format"], "response_format")
    for key in ("presence_penalty", "frequency_penalty"):
        opt_number(body, key, -2, 2)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(opt_bool(body, "stream")),
        tools=tools,
        tool_choice=_parse_tool_choice(body.get("tool_choice"), tools),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls"),
        max_tokens=max_tokens,
        temperature=opt_number(body, "temperature", 0, 2),
        top_p=opt_number(body, "top_p", 0, 1),
        stop=[stop] if isinstance(stop, str) else ([] if stop is None else str_list(stop, "stop")),
        seed=opt_int(body, "seed"),
        user=opt_str(body, "user"),
        extra=extra,
        session_id=opt_str(body, "session_id"),
        attachment_ids=attachment_ids(body),
    )


def wants_stream_usage(body: dict[str, Any]) -> bool:
    """Whether an OpenAI client asked for the usage chunk (`stream_options.include_usage`)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _parse_message(raw: Any, path: str) -> Message:
    msg = require_obj(raw, path)
    role = msg.get("role")
    if role not in _ROLES:
        raise FormatError(f"{path}.role: must be one of {', '.join(_ROLES)}")
    name = opt_str(msg, "name", f"{path}.")
    if role == "assistant":
        calls = _parse_tool_calls(msg.get("tool_calls"), f"{path}.tool_calls")
        content = msg.get("content")
        if content is None and not calls:
            raise FormatError(f"{path}.content is required")
        parts = [] if content is None else _parse_content(content, f"{path}.content", False)
        return Message(role="assistant", content=parts, tool_calls=calls, name=name)
    if msg.get("content") is None:
        raise FormatError(f"{path}.content is required")
    if role == "tool":
        call_id = require_str(msg, "tool_call_id", f"{path}.")
        parts = _parse_content(msg["content"], f"{path}.content", False)
        return Message(role="tool", content=parts, tool_call_id=call_id, name=name)
    images = role == "user"
    parts = _parse_content(msg["content"], f"{path}.content", images)
    return Message(role="user" if role == "user" else "system", content=parts, name=name)


def _parse_content(content: Any, path: str, images: bool) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    items = require_list(content, path)
    parts: list[Part] = []
    for i, raw in enumerate(items):
        where = f"{path}[{i}]"
        item = require_obj(raw, where)
        kind = item.get("type")
        if kind in ("text", "refusal"):
            parts.append(TextPart(require_str(item, kind, f"{where}.", non_empty=False)))
        elif kind == "image_url" and images:
            parts.append(_parse_image(item.get("image_url"), f"{where}.image_url"))
        else:
            allowed = "text, image_url" if images else "text"
            raise FormatError(f"{where}.type: must be one of {allowed}")
    return parts


def _parse_image(raw: Any, path: str) -> ImagePart:
    if isinstance(raw, str):
        raw = {"url": raw}
    image = require_obj(raw, path)
    url = require_str(image, "url", f"{path}.")
    problem = image_url_error(url)
    if problem:
        raise FormatError(f"{path}.url: {problem}")
    detail = opt_str(image, "detail", f"{path}.")
    if detail is not None and detail not in ("auto", "low", "high"):
        raise FormatError(f"{path}.detail: must be one of auto, low, high")
    data = split_data_url(url)
    return ImagePart(url=url, media_type=data[0] if data else None, detail=detail)


def _parse_tool_calls(raw: Any, path: str) -> list[ToolCall]:
    if raw is None:
        return []
    calls = []
    for i, item in enumerate(require_list(raw, path)):
        where = f"{path}[{i}]"
        call = require_obj(item, where)
        if call.get("type", "function") != "function":
            raise FormatError(f"{where}.type: must be 'function'")
        fn = require_obj(call.get("function"), f"{where}.function")
        name = require_str(fn, "name", f"{where}.function.")
        arguments = fn.get("arguments", "")
        if isinstance(arguments, dict):
            arguments = dumps_str(arguments)
        elif not isinstance(arguments, str):
            raise FormatError(f"{where}.function.arguments: must be a JSON string")
        call_id = opt_str(call, "id", f"{where}.") or portal_tool_call_id(name, i)
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return calls


def _parse_tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools = []
    for i, item in enumerate(require_list(raw, "tools")):
        where = f"tools[{i}]"
        tool = require_obj(item, where)
        if tool.get("type") != "function":
            raise FormatError(f"{where}.type: must be 'function'")
        fn = require_obj(tool.get("function"), f"{where}.function")
        tools.append(function_tool(fn, f"{where}.function"))
    return tools


def _parse_tool_choice(raw: Any, tools: list[Tool]) -> ToolChoice | None:
    if raw is None:
        return None
    option = option_tool_choice(raw, tools)
    if option is not None:
        return option
    if isinstance(raw, dict) and raw.get("type") == "function":
        fn = require_obj(raw.get("function"), "tool_choice.function")
        name = require_str(fn, "name", "tool_choice.function.")
        return forced_tool_choice(name, tools, "tool_choice.function.")
    raise FormatError(
        'tool_choice: must be "auto", "none", "required" or '
        '{"type": "function", "function": {"name": ...}}'
    )


def render_response(resp: ChatResponse) -> dict[str, Any]:
    """ChatResponse -> the OpenAI `chat.completion` object the reference shows."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.content}
    if resp.reasoning:
        message["reasoning_content"] = resp.reasoning
    if resp.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "index": i,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(resp.tool_calls)
        ]
    return {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": resp.model,
        "choices": [{"index": 0, "message": message, "finish_reason": resp.finish_reason}],
        "usage": {
            "prompt_tokens": resp.usage.prompt_tokens,
            "completion_tokens": resp.usage.completion_tokens,
            "total_tokens": resp.usage.total_tokens,
        },
    }


def build_request(
    req: ChatRequest, upstream_model: str, *, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    """ChatRequest -> an OpenAI-format body for an upstream (stream_options.include_usage set).

    `max_tokens_field` is "max_tokens" (what every OpenAI-compatible server knows) or
    "max_completion_tokens" (what OpenAI's reasoning models require).
    """
    body: dict[str, Any] = {k: v for k, v in req.extra.items()}
    body["model"] = upstream_model
    body["messages"] = [_render_message(m) for m in req.messages]
    if req.tools:
        body["tools"] = [{"type": "function", "function": _render_function(t)} for t in req.tools]
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.tool_choice is not None:
        choice = req.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
    if req.max_tokens is not None:
        body[max_tokens_field] = req.max_tokens
    for key in ("temperature", "top_p", "seed", "user"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.stop:
        body["stop"] = list(req.stop)
    body["stream"] = req.stream
    if req.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _render_function(tool: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = tool.parameters
    return fn


def _render_message(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.role}
    if msg.role == "assistant":
        out["content"] = msg.text if msg.content else None
        if msg.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in msg.tool_calls
            ]
    elif msg.role == "tool":
        # OpenAI tool results carry text only.
        out["tool_call_id"] = msg.tool_call_id
        out["content"] = msg.text
    elif msg.has_image or len(msg.content) > 1:
        out["content"] = [_render_part(p) for p in msg.content]
    else:
        out["content"] = msg.text
    if msg.name is not None:
        out["name"] = msg.name
    return out


def _render_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def parse_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream's OpenAI `chat.completion` -> ChatResponse.

    Raises UpstreamFormatError (a 502 for the runtime) for an error body or a malformed one.
    """
    if not isinstance(body, dict):
        raise UpstreamFormatError("upstream answer is not a JSON object")
    if body.get("error"):
        raise UpstreamFormatError(_error_message(body["error"]))
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamFormatError("upstream answer has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise UpstreamFormatError("upstream answer has no message")
    calls = []
    for i, raw in enumerate(message.get("tool_calls") or []):
        fn = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise UpstreamFormatError(f"upstream tool call {i} has no function name")
        arguments = fn.get("arguments") or ""
        if not isinstance(arguments, str):
            arguments = dumps_str(arguments)
        call_id = raw.get("id") or portal_tool_call_id(fn["name"], i)
        calls.append(ToolCall(id=call_id, name=fn["name"], arguments=arguments))
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    return ChatResponse(
        id=body.get("id") or completion_id(),
        model=body.get("model") or "",
        created=body["created"] if is_number(body.get("created")) else now(),
        content=_content_text(message.get("content")),
        tool_calls=calls,
        finish_reason=map_finish_reason(choices[0].get("finish_reason"), bool(calls)),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        ),
        reasoning=reasoning_text(message),
    )


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    raise UpstreamFormatError("upstream message content is neither text nor parts")


def _error_message(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return str(error)

"""Helpers both wire formats share: SSE framing, ids, data URLs, field validation."""

from __future__ import annotations

import secrets
import time
from typing import Any

from llmportal.gateway.types import FormatError, Tool, ToolChoice
from llmportal.jsonio import dumps, loads


class UpstreamFormatError(ValueError):
    """An upstream answer that does not fit its format, or an upstream `error` event.

    Not a FormatError: the client's request was fine, so the runtime answers 502 for it.
    """


def sse_data(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def sse_event(event: str, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def now() -> int:
    return int(time.time())


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def portal_tool_call_id(name: str, index: int) -> str:
    """The reference's style for an id the portal has to make up: `functions.<name>:<index>`."""
    return f"functions.{name}:{index}"


def split_data_url(url: str) -> tuple[str, str] | None:
    """`data:<media type>;base64,<data>` -> (media type, data); None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def image_url_error(url: str) -> str | None:
    """Why an image URL is unusable, or None when it is an http(s) or base64 data: URL."""
    if url.startswith(("http://", "https://")):
        return None
    if url.startswith("data:"):
        parsed = split_data_url(url)
        if parsed is None or not parsed[1]:
            return "must be a base64 data: URL (data:<type>;base64,<data>)"
        if not parsed[0].startswith("image/"):
            return "must be an image"
        return None
    return "must be an http(s) URL or a data: URL"


def arguments_to_input(arguments: str) -> dict[str, Any]:
    """OpenAI's arguments text -> Anthropic's input object.

    Arguments that are not a JSON object (a model can emit broken JSON) are kept, not dropped:
    they travel as `{"_raw": "<the text>"}`.
    """
    if not arguments.strip():
        return {}
    try:
        value = loads(arguments)
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def input_to_arguments(value: Any) -> str:
    """Anthropic's input object -> OpenAI's arguments text (undoing the `_raw` wrapping)."""
    if isinstance(value, dict) and set(value) == {"_raw"} and isinstance(value["_raw"], str):
        return value["_raw"]
    return dumps(value if value is not None else {}).decode()


# Field validation: each raises FormatError with a message that starts with the field's path.


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{path}: must be an object")
    return value


# Any array in a completion body (messages, content parts, tools, tool calls): a bound, so one
# request cannot buy seconds of parsing and token counting for a few megabytes of JSON.
MAX_ARRAY_ITEMS = 4096


def require_list(value: Any, path: str, *, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(f"{path}: must be an array")
    if non_empty and not value:
        raise FormatError(f"{path}: must not be empty")
    if len(value) > MAX_ARRAY_ITEMS:
        raise FormatError(f"{path}: at most {MAX_ARRAY_ITEMS} items")
    return value


def require_str(obj: dict[str, Any], key: str, path: str, *, non_empty: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        raise FormatError(f"{path}{key} is required")
    if not isinstance(value, str):
        raise FormatError(f"{path}{key}: must be a string")
    if non_empty and not value.strip():
        raise FormatError(f"{path}{key}: must not be empty")
    return value


def opt_str(obj: dict[str, Any], key: str, path: str = "") -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FormatError(f"{path}{key}: must be a string")
    return value


def opt_bool(obj: dict[str, Any], key: str, path: str = "") -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise FormatError(f"{path}{key}: must be a boolean")
    return value


def opt_number(obj: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not is_number(value) or not low <= value <= high:
        raise FormatError(f"{key}: must be a number between {low:g} and {high:g}")
    return float(value)


def opt_int(obj: dict[str, Any], key: str, *, minimum: int | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise FormatError(f"{key}: must be an integer")
    if minimum is not None and value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise FormatError(f"{key}: must be {what}")
    return value


def str_list(value: Any, path: str) -> list[str]:
    items = require_list(value, path)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise FormatError(f"{path}[{i}]: must be a non-empty string")
    return list(items)


MAX_ATTACHMENTS = 20


def attachment_ids(body: dict[str, Any]) -> list[str]:
    """llmportal's top-level `attachments`: ids of the caller's uploads, without repeats."""
    raw = body.get("attachments")
    if raw is None:
        return []
    ids = str_list(raw, "attachments")
    if len(ids) > MAX_ATTACHMENTS:
        raise FormatError(f"attachments: at most {MAX_ATTACHMENTS} per request")
    return list(dict.fromkeys(ids))


def json_schema(value: Any, path: str) -> dict[str, Any]:
    """A tool's argument schema: a JSON Schema object whose root type (if given) is object."""
    if not isinstance(value, dict) or value.get("type", "object") != "object":
        raise FormatError(f"{path}: must be a JSON Schema object")
    return value


def function_tool(fn: dict[str, Any], path: str) -> Tool:
    """An OpenAI function definition (`name`, `description`, `parameters`) at `path`."""
    name = require_str(fn, "name", f"{path}.")
    params = fn.get("parameters")
    schema = (
        {"type": "object", "properties": {}}
        if params is None
        else json_schema(params, f"{path}.parameters")
    )
    return Tool(name=name, description=opt_str(fn, "description", f"{path}."), parameters=schema)


def option_tool_choice(raw: Any, tools: list[Tool]) -> ToolChoice | None:
    """OpenAI's `"auto"`, `"none"` or `"required"`; None for anything else."""
    if raw not in ("auto", "none", "required"):
        return None
    if raw == "required" and not tools:
        raise FormatError("tool_choice: 'required' needs tools")
    return ToolChoice(mode=raw)


def forced_tool_choice(name: str, tools: list[Tool], path: str) -> ToolChoice:
    if name not in {t.name for t in tools}:
        raise FormatError(f"{path}name: no tool named '{name}'")
    return ToolChoice(mode="tool", name=name)

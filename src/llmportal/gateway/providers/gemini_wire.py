"""Gemini's generateContent wire: ChatRequest -> a GenerateContentRequest body, a
GenerateContentResponse (whole, or one stream chunk at a time) -> our response and events."""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any

from llmportal.gateway.formats._common import (
    arguments_to_input,
    completion_id,
    input_to_arguments,
    now,
    split_data_url,
)
from llmportal.gateway.providers.gemini_schema import gemini_schema
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    Part,
    Start,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from llmportal.jsonio import loads

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
# Gemini 3 refuses a functionCall sent back without the thoughtSignature it came with; the
# only field of ours that makes the round trip through every client is the call's id.
SIGNATURE_MARK = "__thought__"
TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
# Sampling options from ChatRequest.extra that Gemini's generationConfig also knows.
EXTRA_CONFIG = {
    "top_k": "topK",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def build_request(req: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(req.messages)}
    system = [{"text": m.text} for m in req.messages if m.role == "system" and m.text]
    if system:
        body["systemInstruction"] = {"parts": system}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in req.tools]}]
    if req.tool_choice is not None:
        config: dict[str, Any] = {"mode": TOOL_MODES[req.tool_choice.mode]}
        if req.tool_choice.mode == "tool" and req.tool_choice.name:
            config["allowedFunctionNames"] = [req.tool_choice.name]
        body["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(req)
    if generation:
        body["generationConfig"] = generation
    return body


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Turns of role user or model; tool results are user turns, and turns of one role in a row
    are merged (the parallel calls' results go back together, as Gemini asks)."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "system":
            continue
        role = "model" if msg.role == "assistant" else "user"
        if msg.role == "assistant":
            parts = _model_parts(msg)
        elif msg.role == "tool":
            parts = [_function_response(msg, names)] + [
                _part(p) for p in msg.content if not isinstance(p, TextPart)
            ]
        else:
            parts = [_part(p) for p in msg.content]
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _model_parts(msg: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": msg.text}] if msg.text else []
    for call in msg.tool_calls:
        part: dict[str, Any] = {
            "functionCall": {"name": call.name, "args": arguments_to_input(call.arguments)}
        }
        signature = call.id.partition(SIGNATURE_MARK)[2]
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(msg: Message, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(msg.tool_call_id or "") or msg.name
    if not name:
        raise UpstreamRejected(
            f"messages: the tool result '{msg.tool_call_id}' answers no tool call of the "
            "conversation (Gemini needs the function's name)"
        )
    text = msg.text
    try:
        value: Any = loads(text)
    except ValueError:
        value = text
    if not isinstance(value, dict) or msg.is_error:
        value = {"error" if msg.is_error else "result": value}
    return {"functionResponse": {"name": name, "response": value}}


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    data = split_data_url(part.url)
    if data is not None:
        return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    mime = part.media_type or mimetypes.guess_type(part.url.split("?")[0])[0] or "image/jpeg"
    return {"fileData": {"fileUri": part.url, "mimeType": mime}}


def _declaration(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    parameters = gemini_schema(tool.parameters)
    # Gemini refuses an object schema without properties: a function of no arguments has none.
    if parameters.get("properties"):
        out["parameters"] = parameters
    return out


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if req.max_tokens is not None:
        config["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.stop:
        config["stopSequences"] = list(req.stop)
    if req.seed is not None:
        config["seed"] = req.seed
    for key, name in EXTRA_CONFIG.items():
        if req.extra.get(key) is not None:
            config[name] = req.extra[key]
    response_format = req.extra.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        spec = response_format.get("json_schema")
        if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            config["responseSchema"] = gemini_schema(spec["schema"])
    return config


# -- the answer ---------------------------------------------------------------------------------


def tool_call(part: dict[str, Any]) -> ToolCall:
    """A functionCall part as our call: its id (or a new one), with the part's signature."""
    call = part["functionCall"]
    given = call.get("id")
    cid = given if isinstance(given, str) and given else "call_" + secrets.token_hex(12)
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        cid += SIGNATURE_MARK + signature
    return ToolCall(
        id=cid, name=str(call["name"]), arguments=input_to_arguments(call.get("args") or {})
    )


def parse_usage(meta: Any) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    answer = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=answer)


def finish_reason(data: dict[str, Any], has_calls: bool) -> FinishReason | None:
    """The candidate's finish as ours; None while a stream goes on. A prompt blocked before any
    candidate was made ends as a content filter."""
    candidates = data.get("candidates") or []
    reason = candidates[0].get("finishReason") if candidates else None
    if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
        return "content_filter"
    if not reason:
        return None
    mapped = FINISH_REASONS.get(str(reason), "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def candidate_parts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The first candidate's answer parts, without the model's thoughts."""
    candidates = data.get("candidates") or []
    if not candidates:
        return []
    parts = (candidates[0].get("content") or {}).get("parts") or []
    return [p for p in parts if isinstance(p, dict) and not p.get("thought")]


def parse_response(data: dict[str, Any]) -> ChatResponse:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in candidate_parts(data):
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part))
    return ChatResponse(
        id=str(data.get("responseId") or completion_id()),
        model=str(data.get("modelVersion") or ""),
        created=now(),
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=finish_reason(data, bool(calls)) or "stop",
        usage=parse_usage(data.get("usageMetadata")) or Usage(),
    )


class StreamParser:
    """GenerateContentResponse chunks -> stream events: text as it comes, each whole
    functionCall part as a tool call, Finish at the chunk with a finishReason. The usage of the
    last chunk that had one is `usage` (each chunk repeats the running totals)."""

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.calls = 0
        self.usage: Usage | None = None

    def feed(self, data: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            model = str(data.get("modelVersion") or "")
            events.append(Start(str(data.get("responseId") or completion_id()), model, now()))
        for part in candidate_parts(data):
            if isinstance(part.get("text"), str) and part["text"]:
                events.append(TextDelta(part["text"]))
            elif isinstance(part.get("functionCall"), dict):
                call = tool_call(part)
                events.append(ToolCallStart(self.calls, call.id, call.name))
                events.append(ToolCallDelta(self.calls, call.arguments))
                self.calls += 1
        self.usage = parse_usage(data.get("usageMetadata")) or self.usage
        reason = None if self.finished else finish_reason(data, self.calls > 0)
        if reason is not None:
            self.finished = True
            events.append(Finish(reason))
        return events

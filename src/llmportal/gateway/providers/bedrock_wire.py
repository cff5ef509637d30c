"""AWS Bedrock Converse, both ways: ChatRequest -> a Converse body, a Converse answer ->
ChatResponse, and ConverseStream events -> our stream events."""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    arguments_to_input,
    completion_id,
    input_to_arguments,
    now,
    split_data_url,
)
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Start,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from llmportal.jsonio import loads

IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def build_request(req: ChatRequest) -> dict[str, Any]:
    """ChatRequest -> a Converse body (the model id goes in the URL, not the body).

    System messages join `system`; consecutive messages of one role merge into one message, as
    Converse wants the roles to alternate (parallel tool results become one user message).
    """
    body: dict[str, Any] = {"messages": _render_messages(req.messages)}
    system = [{"text": m.text} for m in req.messages if m.role == "system" and m.text]
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if req.max_tokens is not None:
        inference["maxTokens"] = req.max_tokens
    if req.temperature is not None:
        inference["temperature"] = req.temperature
    if req.top_p is not None:
        inference["topP"] = req.top_p
    if req.stop:
        inference["stopSequences"] = list(req.stop)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(req, _has_tool_blocks(body["messages"]))
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body


def _tool_config(req: ChatRequest, has_tool_blocks: bool) -> dict[str, Any] | None:
    if not req.tools:
        return None
    choice = req.tool_choice
    tools = {"tools": [_render_tool(t) for t in req.tools]}
    if choice is None or choice.mode == "auto":
        return tools if choice is None else {**tools, "toolChoice": {"auto": {}}}
    if choice.mode == "none":
        # Converse has no "none" choice: send no tools, as LiteLLM does, unless the
        # conversation holds tool calls or results, which Converse refuses without a toolConfig.
        return tools if has_tool_blocks else None
    if choice.mode == "required":
        return {**tools, "toolChoice": {"any": {}}}
    return {**tools, "toolChoice": {"tool": {"name": choice.name}}}


def _render_tool(tool: Tool) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["inputSchema"] = {"json": tool.parameters}
    return {"toolSpec": spec}


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _render_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if msg.role == "system":
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        if msg.role == "assistant":
            blocks = _assistant_blocks(msg)
        elif msg.role == "tool":
            blocks = [_tool_result(msg)]
        else:
            blocks = [_render_part(p, i) for p in msg.content if not _blank(p)]
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _blank(part: Any) -> bool:
    # Converse refuses a text block that is empty or only whitespace.
    return not isinstance(part, ImagePart) and not part.text.strip()


def _assistant_blocks(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"text": msg.text}] if msg.text.strip() else []
    for call in msg.tool_calls:
        tool_use = {"toolUseId": call.id, "name": call.name}
        blocks.append({"toolUse": {**tool_use, "input": arguments_to_input(call.arguments)}})
    return blocks or [{"text": msg.text}]


def _tool_result(msg: Message) -> dict[str, Any]:
    result: dict[str, Any] = {"toolUseId": msg.tool_call_id, "content": [_result_content(msg)]}
    if msg.is_error:
        result["status"] = "error"
    return {"toolResult": result}


def _result_content(msg: Message) -> dict[str, Any]:
    """A JSON object result as `json` (the model reads it as data), anything else as text."""
    text = msg.text
    if text.lstrip().startswith("{"):
        try:
            value = loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return {"json": value}
    return {"text": text}


def _render_part(part: Any, index: int) -> dict[str, Any]:
    if not isinstance(part, ImagePart):
        return {"text": part.text}
    where = f"messages[{index}].content"
    data = split_data_url(part.url)
    if data is None:
        raise UpstreamRejected(
            f"{where}: Bedrock takes images only inline, as a base64 data: URL, not by URL"
        )
    media_type, b64 = data
    kind = media_type.removeprefix("image/")
    if kind not in IMAGE_FORMATS:
        raise UpstreamRejected(f"{where}: Bedrock takes png, jpeg, gif or webp images")
    return {"image": {"format": IMAGE_FORMATS[kind], "source": {"bytes": b64}}}


def parse_response(data: dict[str, Any]) -> ChatResponse:
    """A Converse answer -> ChatResponse; a wrong shape raises KeyError/TypeError (malformed)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in data["output"]["message"]["content"]:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = input_to_arguments(use.get("input"))
            calls.append(
                ToolCall(id=str(use["toolUseId"]), name=str(use["name"]), arguments=arguments)
            )
    return ChatResponse(
        id=completion_id(),
        model="",  # the gateway names the model the client asked for
        created=now(),
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=map_stop_reason(data.get("stopReason")),
        usage=parse_usage(data.get("usage")),
    )


def map_stop_reason(reason: Any) -> FinishReason:
    return STOP_REASONS.get(str(reason), "stop")


def parse_usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        prompt_tokens=int(usage.get("inputTokens") or 0),
        completion_tokens=int(usage.get("outputTokens") or 0),
    )


class StreamParser:
    """ConverseStream events, in order, -> our stream events. Tool calls are numbered in the
    order they start; Converse numbers every content block (text ones too)."""

    def __init__(self) -> None:
        self.started = False
        self.stopped = False  # messageStop came (metadata, with the usage, follows it)
        self.tool_index: dict[int, int] = {}  # contentBlockIndex -> tool call index

    def feed(self, kind: str | None, event: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            out.append(Start(id=completion_id(), model="", created=now()))
        if kind == "contentBlockStart":
            use = event["start"].get("toolUse")
            if use is not None:
                index = self.tool_index.setdefault(event["contentBlockIndex"], len(self.tool_index))
                out.append(
                    ToolCallStart(index=index, id=str(use["toolUseId"]), name=str(use["name"]))
                )
        elif kind == "contentBlockDelta":
            delta = event["delta"]
            if "text" in delta:
                out.append(TextDelta(str(delta["text"])))
            elif "toolUse" in delta:
                index = self.tool_index[event["contentBlockIndex"]]
                out.append(ToolCallDelta(index=index, arguments=str(delta["toolUse"]["input"])))
        elif kind == "messageStop":
            self.stopped = True
            out.append(Finish(map_stop_reason(event.get("stopReason"))))
        elif kind == "metadata":
            out.append(UsageEvent(parse_usage(event.get("usage"))))
        return out

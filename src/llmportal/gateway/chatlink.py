"""What the gateway asks of the chat domain, registered as portal.services["chat_link"]:
before the model is called, check the request's chat session and turn its attachments into
content the model reads; after a completion that finished, store the exchange in the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from llmportal.config import ModelConfig
from llmportal.deps import Principal
from llmportal.gateway.types import (
    ChatRequest,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


@dataclass(slots=True)
class Reply:
    content: str | None
    tool_calls: list[ToolCall]
    usage: Usage


class ChatLink(Protocol):
    async def prepare(self, principal: Principal, req: ChatRequest, model: ModelConfig) -> Any:
        """Raises PortalError (404 session or attachment, 403/400 images) before the model runs;
        adds the attachments' parts to `req`. None when there is nothing to store."""
        ...

    async def store(
        self, principal: Principal, req: ChatRequest, prepared: Any, reply: Reply
    ) -> None: ...


@dataclass
class ReplyCollector:
    """Builds the reply a stream delivered, from its events."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, ToolCall] = field(default_factory=dict)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCallStart):
            self.calls[event.index] = ToolCall(id=event.id, name=event.name, arguments="")
        elif isinstance(event, ToolCallDelta) and event.index in self.calls:
            self.calls[event.index].arguments += event.arguments

    def reply(self, usage: Usage) -> Reply:
        content = "".join(self.text) if self.text or not self.calls else None
        return Reply(content, [self.calls[i] for i in sorted(self.calls)], usage)

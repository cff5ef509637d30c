from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field

from llmportal.chat.models import ChatAttachment, ChatMessage, ChatSession
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.users.schemas import iso

MAX_CONTENT_CHARS = 500_000
MAX_ATTACHMENTS_PER_MESSAGE = 10


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SessionCreate(Body):
    title: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, min_length=1, max_length=200)


class SessionUpdate(Body):
    title: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, min_length=1, max_length=200)


class AttachmentRef(Body):
    """An attachment named by its id or by the url the upload answered (name, type, size are
    the client's copy and are ignored)."""

    id: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, max_length=2000)


class MessageCreate(Body):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=64)
    role: Literal["user", "assistant", "system"]
    content: str = Field(default="", max_length=MAX_CONTENT_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS_PER_MESSAGE
    )
    metadata: dict[str, Any] | None = None


class MessageUpdate(Body):
    content: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    metadata: dict[str, Any] | None = None
    video_data: Any = Field(default=None, alias="videoData")


class RatingIn(Body):
    rating: Literal["up", "down"]


class Attachment(ResponseModel):
    id: str
    name: str
    type: str
    size: int
    url: str


class AttachmentList(ResponseModel):
    attachments: list[Attachment]


class SessionOut(ResponseModel):
    id: str
    title: str | None
    model: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class SessionSummary(SessionOut):
    messageCount: int


class SessionList(ResponseModel):
    sessions: list[SessionSummary]


class ToolCallFunction(ResponseModel):
    name: str
    arguments: str = Field(description="the arguments as a JSON text")


class StoredToolCall(ResponseModel):
    id: str
    type: Literal["function"]
    function: ToolCallFunction


class MessageOut(ResponseModel):
    id: str
    sessionId: str
    role: Literal["user", "assistant", "system"]
    content: str
    model: str | None
    attachments: list[Attachment]
    totalTokens: int
    rating: Literal[1, -1] | None
    metadata: dict[str, Any]
    createdAt: Timestamp
    updatedAt: Timestamp
    # Present on assistant replies stored by a completion.
    toolCalls: list[StoredToolCall] | MISSING = MISSING
    promptTokens: int | MISSING = MISSING
    completionTokens: int | MISSING = MISSING


class MessageList(ResponseModel):
    messages: list[MessageOut]


class SessionDetail(SessionSummary):
    messages: list[MessageOut]


class Rated(ResponseModel):
    success: Literal[True]
    rating: Literal[1, -1]


def attachment_url(attachment_id: str) -> str:
    return f"/api/chat/attachments/{attachment_id}"


def attachment_out(a: ChatAttachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "type": a.mime_type,
        "size": a.size,
        "url": attachment_url(a.id),
    }


def session_out(s: ChatSession, message_count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "title": s.title,
        "model": s.model,
        "createdAt": iso(s.created_at),
        "updatedAt": iso(s.updated_at),
    }
    if message_count is not None:
        out["messageCount"] = message_count
    return out


def message_out(m: ChatMessage, attachments: list[ChatAttachment]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "sessionId": m.session_id,
        "role": m.role,
        "content": m.content,
        "model": m.model,
        "attachments": [attachment_out(a) for a in attachments],
        "totalTokens": m.total_tokens,
        "rating": m.rating,
        "metadata": m.meta or {},
        "createdAt": iso(m.created_at),
        "updatedAt": iso(m.updated_at),
    }
    if m.tool_calls:
        out["toolCalls"] = m.tool_calls
    if m.prompt_tokens is not None:
        out["promptTokens"] = m.prompt_tokens
    if m.completion_tokens is not None:
        out["completionTokens"] = m.completion_tokens
    return out

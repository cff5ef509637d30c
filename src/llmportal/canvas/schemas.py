from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.openapi import ErrorResponse, ResponseModel, Timestamp
from llmportal.users.schemas import iso

MAX_CANVAS_CHARS = 2_000_000


class CanvasPut(BaseModel):
    title: str = Field(default="Untitled", max_length=300)
    content: str = Field(max_length=MAX_CANVAS_CHARS)
    version: int | None = Field(default=None, ge=0)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return v.strip() or "Untitled"


class DocumentOut(ResponseModel):
    id: str
    sessionId: str
    title: str
    content: str
    version: int
    updatedAt: Timestamp


class VersionOut(ResponseModel):
    id: str
    version: int
    title: str
    content: str
    createdAt: Timestamp


class CanvasOut(ResponseModel):
    document: DocumentOut | None = Field(description="null: the session has no canvas yet")
    versions: list[VersionOut] = Field(description="the most recent snapshots, newest first")


class CanvasSaved(ResponseModel):
    document: DocumentOut


class VersionList(ResponseModel):
    versions: list[VersionOut]


class CanvasConflict(ErrorResponse):
    """409 on PUT: the version sent is not the current one."""

    currentVersion: int
    document: DocumentOut | None


def document_out(doc: CanvasDocument) -> dict[str, Any]:
    return {
        "id": doc.id,
        "sessionId": doc.session_id,
        "title": doc.title,
        "content": doc.content,
        "version": doc.version,
        "updatedAt": iso(doc.updated_at),
    }


def version_out(v: CanvasVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "version": v.version,
        "title": v.title,
        "content": v.content,
        "createdAt": iso(v.created_at),
    }

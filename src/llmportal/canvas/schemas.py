from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from llmportal.canvas.models import CanvasDocument, CanvasVersion
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

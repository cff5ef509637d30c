from __future__ import annotations

from typing import Any

from llmportal.files.models import StoredFile
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.users.schemas import iso


class FileOut(ResponseModel):
    id: str
    name: str
    type: str
    size: int
    url: str
    createdAt: Timestamp


class FileList(ResponseModel):
    files: list[FileOut]
    total: int
    page: int
    limit: int


def file_out(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "type": f.mime_type,
        "size": f.size,
        "url": f"/api/files/{f.id}/content",
        "createdAt": iso(f.created_at),
    }

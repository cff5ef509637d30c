from __future__ import annotations

from typing import Any

from llmportal.files.models import StoredFile
from llmportal.users.schemas import iso


def file_out(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "type": f.mime_type,
        "size": f.size,
        "url": f"/api/files/{f.id}/content",
        "createdAt": iso(f.created_at),
    }

"""Library uploads in, downloads out: size limits, type detection, HTTP caching and ranges."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from llmportal.errors import PortalError
from llmportal.storage import Storage, StoredObject
from llmportal.uploads import receive_multipart

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_INDEXED_TEXT = 1024 * 1024  # uploaded text up to this size is kept as searchable content
_CODE_EXTENSIONS = {
    ".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".go", ".rs", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".scala", ".sh", ".bash", ".zsh",
    ".sql", ".css", ".scss", ".html", ".htm", ".vue", ".svelte", ".lua", ".r", ".pl", ".dart",
    ".json", ".yaml", ".yml", ".toml", ".xml", ".ini", ".dockerfile", ".ipynb",
}  # fmt: skip
# Types a browser shows without running anything; everything else downloads as an attachment.
_INLINE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
)
_INLINE_PREFIXES = ("video/", "audio/")


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    stored: StoredObject
    filename: str | None
    fields: dict[str, str]


async def receive_upload(
    request: Request, storage: Storage, user_id: str, *, max_bytes: int
) -> ReceivedUpload:
    """Stream the multipart field `file` into the user's storage; the other text fields too.

    The body is read as it arrives (uploads.receive_multipart): a file over `max_bytes` is
    refused with 413 while streaming, and nothing is left in storage on any error.
    """
    upload = await receive_multipart(
        request, storage, user_id, file_field="file", max_files=1, max_bytes=max_bytes
    )
    (received,) = upload.files
    return ReceivedUpload(received.stored, received.filename, upload.fields)


def item_type_for(mime_type: str, filename: str | None) -> str:
    ext = os.path.splitext(filename or "")[1].lower()
    if mime_type.startswith("image/"):
        return "IMAGE"
    if mime_type.startswith("video/"):
        return "VIDEO"
    if ext in _CODE_EXTENSIONS and is_text(mime_type):
        return "CODE"
    return "FILE"


def is_text(mime_type: str) -> bool:
    return mime_type.startswith("text/") or mime_type in (
        "application/json",
        "application/xml",
        "application/yaml",
    )


async def text_content(storage: Storage, stored: StoredObject) -> str | None:
    """The text of a small text upload, so search finds words inside it."""
    if not is_text(stored.mime_type) or stored.size > MAX_INDEXED_TEXT:
        return None
    data = await storage.read_head(stored.user_id, stored.name, stored.size)
    return data.decode("utf-8", errors="replace").replace("\x00", "")


# --- downloads ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileMeta:
    storage: Storage
    user_id: str
    name: str  # in storage
    size: int
    etag: str
    last_modified: datetime
    mime_type: str
    filename: str


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.replace(microsecond=0), usegmt=True)


def _base_headers(meta: FileMeta) -> dict[str, str]:
    return {
        "ETag": meta.etag,
        "Last-Modified": _http_date(meta.last_modified),
        "Cache-Control": "private, max-age=3600",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }


def _disposition(meta: FileMeta) -> str:
    inline = meta.mime_type in _INLINE_TYPES or meta.mime_type.startswith(_INLINE_PREFIXES)
    kind = "inline" if inline else "attachment"
    ascii_name = meta.filename.encode("ascii", "replace").decode().replace('"', "'")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(meta.filename)}"


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag.removeprefix("W/") in tags


def not_modified(request: Request, meta: FileMeta) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, meta.etag)
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            return False
        return meta.last_modified.replace(microsecond=0) <= since
    return False


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (start, end inclusive); None to send the whole file.

    Raises 416 for a bytes range that is malformed or lies outside the file.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None  # several ranges: the whole file is a valid answer
    first, sep, last = spec.strip().partition("-")
    valid = (
        bool(sep)
        and bool(first or last)
        and (not first or first.isdigit())
        and (not last or last.isdigit())
    )
    if valid and not first:
        start, end = max(size - int(last), 0), size - 1
        valid = int(last) > 0
    elif valid:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        valid = not last or int(last) >= start
    if not valid or start >= size:
        raise PortalError(
            416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


def _if_range_ok(request: Request, meta: FileMeta) -> bool:
    value = request.headers.get("if-range")
    if value is None:
        return True
    if value.startswith(('"', "W/")):
        return value == meta.etag
    try:
        return parsedate_to_datetime(value) >= meta.last_modified.replace(microsecond=0)
    except (TypeError, ValueError):
        return False


def file_response(request: Request, meta: FileMeta) -> Response:
    headers = _base_headers(meta)
    if not_modified(request, meta):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = _disposition(meta)
    headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    span = None
    range_header = request.headers.get("range")
    if range_header and _if_range_ok(request, meta):
        span = parse_range(range_header, meta.size)
    status, start, length = 200, 0, meta.size
    if span is not None:
        start, end = span
        status, length = 206, end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{meta.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=meta.mime_type)
    body = meta.storage.read_range(meta.user_id, meta.name, start, length)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=meta.mime_type)

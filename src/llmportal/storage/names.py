"""Names and types of stored files: the names storage makes, the type sniffed from the bytes,
and the client's filename made harmless for display.

Every name that reaches a backend is one `new_name()` made (a random id plus a sanitised
extension), so no client-supplied path can leave a user's folder or prefix.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
from dataclasses import dataclass

from llmportal.errors import PortalError

CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_SAFE_EXT = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


@dataclass(frozen=True, slots=True)
class StoredObject:
    user_id: str
    name: str  # the file's name inside the user's folder
    size: int
    sha256: str
    mime_type: str

    @property
    def key(self) -> str:
        return f"{self.user_id}/{self.name}"


_MAGIC: list[tuple[bytes, int, str]] = [
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"RIFF", 0, "riff"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
]
_TEXT_TYPES = {
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".txt": "text/plain",
    ".py": "text/x-python",
    ".js": "text/javascript",
    ".ts": "text/x-typescript",
    ".html": "text/html",
    ".css": "text/css",
    ".xml": "application/xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".sql": "text/x-sql",
    ".sh": "text/x-shellscript",
}


def sniff_mime(head: bytes, filename: str | None) -> str:
    """The type from the content's first bytes; the name only refines text and zip types."""
    ext = os.path.splitext(filename or "")[1].lower()
    for magic, offset, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if mime == "riff":
                kind = head[8:12]
                return {
                    b"WEBP": "image/webp",
                    b"WAVE": "audio/wav",
                    b"AVI ": "video/x-msvideo",
                }.get(kind, "application/octet-stream")
            if mime == "video/mp4" and head[8:12] in (b"qt  ",):
                return "video/quicktime"
            if mime == "application/zip" and ext in (".docx", ".xlsx", ".pptx"):
                return mimetypes.guess_type("x" + ext)[0] or mime
            return mime
    if _looks_like_text(head):
        if ext in _TEXT_TYPES:
            return _TEXT_TYPES[ext]
        guessed = mimetypes.guess_type("x" + ext)[0] if ext else None
        return guessed if guessed and guessed.startswith("text/") else "text/plain"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def safe_extension(filename: str | None) -> str:
    ext = os.path.splitext(filename or "")[1]
    return ext.lower() if _SAFE_EXT.match(ext) else ""


def display_name(filename: str | None, default: str = "file") -> str:
    """A client's filename made harmless for storing in the database and showing back."""
    name = (filename or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')
    return name.strip(" .")[:255] or default


def new_name(filename: str | None) -> str:
    return secrets.token_hex(16) + safe_extension(filename)


def check_key(user_id: str, name: str) -> None:
    """404 for any user id or name that storage could not have made."""
    if not _SAFE_NAME.match(user_id) or not _SAFE_NAME.match(name) or ".." in name:
        raise PortalError(404, "File not found")

"""Attachments as content a model can read: text-like files and PDFs as text, images as inline
image parts (data: URLs). Used by the completions path for messages that carry attachments."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread

from llmportal.gateway.types import ImagePart, Part, TextPart
from llmportal.storage import Storage

log = logging.getLogger("llmportal.chat")

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/javascript",
        "application/sql",
        "application/toml",
    }
)
DEFAULT_MAX_TEXT_CHARS = 100_000
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024


class StoredUpload(Protocol):
    """What a chat attachment or an uploaded file row carries about its stored bytes."""

    user_id: str
    name: str
    mime_type: str
    size: int
    storage_name: str


def is_text_type(mime_type: str) -> bool:
    return mime_type.startswith("text/") or mime_type in _TEXT_APPLICATION_TYPES


async def model_parts_for_attachments(
    storage: Storage,
    attachments: Sequence[StoredUpload],
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> list[Part]:
    """One part per attachment, in order. Text is cut at max_text_chars (marked as cut);
    a file the model cannot read becomes a short note naming it, so the model knows it exists."""
    parts: list[Part] = []
    for a in attachments:
        if await storage.stat(a.user_id, a.storage_name) is None:
            parts.append(TextPart(_note(a, "no longer available")))
        elif a.mime_type in IMAGE_TYPES:
            parts.append(await _image_part(storage, a, max_image_bytes))
        elif is_text_type(a.mime_type):
            text, cut = await _read_text(storage, a, max_text_chars)
            parts.append(TextPart(_file_block(a, text, cut)))
        elif a.mime_type == "application/pdf":
            async with storage.local_copy(a.user_id, a.storage_name) as path:
                extracted = await anyio.to_thread.run_sync(_pdf_text, path, max_text_chars)
            if extracted is None:
                parts.append(TextPart(_note(a, "its text could not be extracted")))
            else:
                parts.append(TextPart(_file_block(a, *extracted)))
        else:
            parts.append(TextPart(_note(a, "not readable as text")))
    return parts


def _note(a: StoredUpload, why: str) -> str:
    return f"[Attachment {a.name} ({a.mime_type}, {a.size} bytes): {why}]"


def _file_block(a: StoredUpload, text: str, cut: bool) -> str:
    tail = "\n[... truncated]" if cut else ""
    return f'<file name="{a.name}" type="{a.mime_type}">\n{text}{tail}\n</file>'


async def _image_part(storage: Storage, a: StoredUpload, max_bytes: int) -> Part:
    if a.size > max_bytes:
        return TextPart(_note(a, f"image larger than {max_bytes} bytes, not sent"))
    data = await storage.read_head(a.user_id, a.storage_name, max_bytes)
    encoded = base64.b64encode(data).decode("ascii")
    return ImagePart(url=f"data:{a.mime_type};base64,{encoded}", media_type=a.mime_type)


async def _read_text(storage: Storage, a: StoredUpload, max_chars: int) -> tuple[str, bool]:
    # UTF-8 takes at most 4 bytes a character: this many bytes always hold max_chars + 1.
    raw = await storage.read_head(a.user_id, a.storage_name, max_chars * 4 + 4)
    text = raw.decode("utf-8", errors="replace")
    return (text[:max_chars], True) if len(text) > max_chars else (text, False)


def _pdf_text(path: Path, max_chars: int) -> tuple[str, bool] | None:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        pieces: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            pieces.append(text)
            total += len(text)
            if total > max_chars:
                break
    except Exception as exc:  # an uploaded PDF is untrusted input to a third-party parser
        log.info("pdf text extraction failed for %s: %s", path.name, exc)
        return None
    text = "\n\n".join(p.strip() for p in pieces if p.strip())
    return (text[:max_chars], True) if len(text) > max_chars else (text, False)

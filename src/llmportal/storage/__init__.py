"""Where uploaded bytes live: a directory (a folder per user) or an S3 bucket, behind one
interface (base.Storage). `open_storage(settings)` picks the backend from STORAGE_URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmportal.storage.base import ListedObject, ObjectStat, Storage
from llmportal.storage.directory import LocalStorage
from llmportal.storage.names import (
    CHUNK,
    StoredObject,
    check_key,
    display_name,
    safe_extension,
    sniff_mime,
)

if TYPE_CHECKING:
    from llmportal.config import Settings

__all__ = [
    "CHUNK",
    "ListedObject",
    "LocalStorage",
    "ObjectStat",
    "Storage",
    "StoredObject",
    "check_key",
    "display_name",
    "open_storage",
    "open_url",
    "safe_extension",
    "sniff_mime",
]


def open_url(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Storage:
    """The backend for a directory or an s3://bucket/prefix URL."""
    if url.startswith("s3://"):
        from llmportal.storage.s3 import S3Storage

        return S3Storage(url, endpoint_url=endpoint_url, region=region)
    return LocalStorage(url.removeprefix("file://"))


def open_storage(settings: Settings) -> Storage:
    return open_url(
        settings.storage_url or settings.storage_dir,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
    )

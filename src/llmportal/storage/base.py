"""The one interface every storage backend implements (directory.py, s3.py).

Objects are addressed by (user_id, name); names are made by `save_stream` (names.new_name), so
a client never chooses where bytes land. Writes are all-or-nothing: an object is visible only
once every byte of it arrived, and a failed or refused write leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from llmportal.errors import PortalError
from llmportal.storage.names import StoredObject, check_key, new_name, sniff_mime

READ_WINDOW = 8 * 1024 * 1024  # a download without a local path reads this much per request


@dataclass(frozen=True, slots=True)
class ObjectStat:
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class ListedObject:
    user_id: str
    name: str
    size: int


class Storage(ABC):
    """Where uploaded bytes live."""

    url: str  # the directory or s3://bucket/prefix, for messages

    async def save_stream(
        self,
        user_id: str,
        chunks: AsyncIterator[bytes],
        *,
        filename: str | None,
        max_bytes: int,
    ) -> StoredObject:
        """Store chunks as a new object; 413 (and nothing left behind) past max_bytes."""
        name = new_name(filename)
        check_key(user_id, name)
        digest = hashlib.sha256()
        size = 0
        head = b""

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size, head
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PortalError(413, f"File too large (limit {max_bytes} bytes)")
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                digest.update(chunk)
                yield chunk

        await self.write(user_id, name, counted())
        return StoredObject(user_id, name, size, digest.hexdigest(), sniff_mime(head, filename))

    @abstractmethod
    async def write(self, user_id: str, name: str, chunks: AsyncIterator[bytes]) -> None:
        """Store the object under this name (replacing one there), all or nothing."""

    @abstractmethod
    async def delete(self, user_id: str, name: str) -> None:
        """Remove the object; no error when it is not there (or the name is not one of ours)."""

    @abstractmethod
    async def stat(self, user_id: str, name: str) -> ObjectStat | None:
        """Size and modification time, or None when there is no such object."""

    @abstractmethod
    def read_range(
        self, user_id: str, name: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """The object's bytes from `start`, `length` of them (None: to the end), in chunks.
        404 when there is no such object."""

    @abstractmethod
    def local_copy(self, user_id: str, name: str) -> AbstractAsyncContextManager[Path]:
        """A path on this machine holding the object, for parsers that need a file (PDF)."""

    @abstractmethod
    def list_objects(self) -> AsyncIterator[ListedObject]:
        """Every stored object (for `llmportal storage migrate`)."""

    async def read_head(self, user_id: str, name: str, n: int = 512) -> bytes:
        """Up to `n` first bytes of the object (all of it for n >= its size)."""
        out = bytearray()
        async for chunk in self.read_range(user_id, name, 0, n):
            out += chunk
        return bytes(out)

    async def close(self) -> None:
        return None

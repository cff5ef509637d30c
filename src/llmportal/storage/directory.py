"""A folder per user under STORAGE_DIR (or a directory STORAGE_URL), written as bytes stream in:
to `<name>.part`, renamed into place once complete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from stat import S_ISREG

import anyio

from llmportal.errors import PortalError
from llmportal.storage.base import ListedObject, ObjectStat, Storage
from llmportal.storage.names import CHUNK, check_key


class LocalStorage(Storage):
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.url = str(self.root)

    def path_for(self, user_id: str, name: str) -> Path:
        """The file's path, or 404 for any name this module could not have made."""
        check_key(user_id, name)
        folder = self.root / user_id
        path = (folder / name).resolve()
        if path.parent != folder.resolve():
            raise PortalError(404, "File not found")
        return path

    async def write(self, user_id: str, name: str, chunks: AsyncIterator[bytes]) -> None:
        final = self.path_for(user_id, name)
        await anyio.Path(final.parent).mkdir(parents=True, exist_ok=True)
        partial = final.with_name(name + ".part")
        try:
            async with await anyio.open_file(partial, "wb") as fh:
                async for chunk in chunks:
                    await fh.write(chunk)
            await anyio.Path(partial).rename(final)
        except BaseException:
            await anyio.Path(partial).unlink(missing_ok=True)
            raise

    async def delete(self, user_id: str, name: str) -> None:
        try:
            await anyio.Path(self.path_for(user_id, name)).unlink(missing_ok=True)
        except PortalError:
            return

    async def stat(self, user_id: str, name: str) -> ObjectStat | None:
        try:
            st = await anyio.Path(self.path_for(user_id, name)).stat()
        except (OSError, PortalError):
            return None
        if not S_ISREG(st.st_mode):
            return None
        return ObjectStat(size=st.st_size, modified=st.st_mtime)

    async def read_range(
        self, user_id: str, name: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            fh = await anyio.open_file(self.path_for(user_id, name), "rb")
        except OSError:
            raise PortalError(404, "File not found") from None
        async with fh:
            await fh.seek(start)
            left = length
            while left is None or left > 0:
                chunk = await fh.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk

    @asynccontextmanager
    async def local_copy(self, user_id: str, name: str) -> AsyncIterator[Path]:
        yield self.path_for(user_id, name)

    async def list_objects(self) -> AsyncIterator[ListedObject]:
        root = anyio.Path(self.root)
        if not await root.is_dir():
            return
        async for folder in root.iterdir():
            if not await folder.is_dir():
                continue
            async for entry in folder.iterdir():
                if entry.name.endswith(".part"):
                    continue
                try:
                    check_key(folder.name, entry.name)
                except PortalError:
                    continue
                st = await entry.stat()
                if S_ISREG(st.st_mode):
                    yield ListedObject(folder.name, entry.name, st.st_size)

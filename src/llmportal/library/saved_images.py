"""Generated images kept in the library: the gateway's "image_library" (gateway/librarylink.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.config import Settings
from llmportal.db import transaction
from llmportal.deps import Principal
from llmportal.library import service
from llmportal.library.files import MAX_UPLOAD_BYTES
from llmportal.library.schemas import UploadFields
from llmportal.storage import Storage, sniff_mime

_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}


class SavedImages:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        storage: Storage,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.storage = storage

    async def save_image(self, principal: Principal, data: bytes, title: str) -> str:
        user = principal.user
        extension = _EXTENSIONS.get(sniff_mime(data[:512], None), ".png")

        async def body() -> AsyncIterator[bytes]:
            yield data

        stored = await self.storage.save_stream(
            user.id, body(), filename=f"image{extension}", max_bytes=MAX_UPLOAD_BYTES
        )
        try:
            async with transaction(self.sessionmaker) as db:
                item = await service.create_uploaded_item(
                    db,
                    self.settings,
                    user,
                    stored,
                    original_name=f"generated{extension}",
                    item_type="IMAGE",
                    text_content=None,
                    fields=UploadFields(title=title[:500], source="images", tags=["generated"]),
                )
                return item.id
        except BaseException:
            await self.storage.delete(user.id, stored.name)
            raise

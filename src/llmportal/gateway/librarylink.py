"""What the gateway asks of the library domain, registered as portal.services["image_library"]:
keep a generated image in the caller's library (a `stuff` item of type IMAGE)."""

from __future__ import annotations

from typing import Protocol

from llmportal.deps import Principal


class ImageLibrary(Protocol):
    async def save_image(self, principal: Principal, data: bytes, title: str) -> str:
        """The new item's id. Raises PortalError (413 storage full, ...) and leaves nothing
        behind: no file without its row, no row without its file."""
        ...

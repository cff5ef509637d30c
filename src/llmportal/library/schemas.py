"""Request bodies, list filters and response shapes of the library (content items, collections)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmportal.library.models import Collection, ContentItem, tag_list
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.storage import display_name
from llmportal.users.schemas import iso

ItemType = Literal["IMAGE", "VIDEO", "FILE", "CODE", "CONVERSATION", "NOTE"]
SortBy = Literal["newest", "oldest", "name_asc", "name_desc", "size", "relevance"]

MAX_CONTENT_CHARS = 1_000_000
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _clean_tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    seen: dict[str, str] = {}
    for raw in value:
        tag = " ".join(raw.split())
        if not tag:
            raise ValueError("tags must not be empty")
        if len(tag) > 50:
            raise ValueError("each tag must be at most 50 characters")
        seen.setdefault(tag.lower(), tag)
    return list(seen.values())


def _check_source(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _SOURCE.match(value):
        raise ValueError("must be 1-50 letters, digits, '.', '_' or '-'")
    return value


class ItemFilters(BaseModel):
    """GET /api/stuff query parameters."""

    model_config = ConfigDict(populate_by_name=True)

    type: ItemType | None = None
    search: str | None = Field(default=None, max_length=200)
    source: str | None = None
    favorite: bool | None = None
    archived: bool | None = None
    collection_id: str | None = Field(default=None, alias="collectionId", max_length=32)
    sort_by: SortBy | None = Field(default=None, alias="sortBy")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=100)

    _type = field_validator("type", mode="before")(_upper)
    _source = field_validator("source")(_check_source)


class ItemCreate(BaseModel):
    type: ItemType
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    content: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    url: str | None = Field(default=None, max_length=2048)
    file_name: str | None = Field(default=None, alias="fileName", max_length=255)
    mime_type: str | None = Field(default=None, alias="mimeType", max_length=255)
    tags: list[str] = Field(default_factory=list, max_length=50)
    source: str = "manual"
    favorite: bool = False
    archived: bool = False

    _type = field_validator("type", mode="before")(_upper)
    _source = field_validator("source")(_check_source)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return _clean_tags(v) or []

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if v.startswith("/") and not v.startswith("//"):
            return v
        if re.match(r"^https?://[^\s/]+", v, re.I) and not any(c.isspace() for c in v):
            return v
        raise ValueError("must be an http(s) URL or a path starting with /")

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, v: str | None) -> str | None:
        return display_name(v) if v else None

    @field_validator("mime_type")
    @classmethod
    def _mime(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _MIME.match(v.strip()):
            raise ValueError("must look like type/subtype")
        return v.strip().lower()


class ItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=50)
    favorite: bool | None = None
    archived: bool | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, v: str | None) -> str | None:
        if v is None:
            raise ValueError("must not be null")
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str]:
        return _clean_tags(v) or []

    @field_validator("favorite", "archived")
    @classmethod
    def _flag(cls, v: bool | None) -> bool:
        if v is None:
            raise ValueError("must be true or false")
        return v


class UploadFields(BaseModel):
    """Optional text fields sent beside the `file` part of an upload."""

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    source: str = "upload"

    _source = field_validator("source")(_check_source)

    @field_validator("tags", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [t for t in v.split(",") if t.strip()]
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return _clean_tags(v) or []


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    color: str | None = None
    icon: str | None = Field(default=None, max_length=50)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str:
        v = (v or "").strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("color")
    @classmethod
    def _color(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _COLOR.match(v):
            raise ValueError("must be a hex color like #3B82F6")
        return v.upper()


class CollectionUpdate(CollectionCreate):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]


class CollectionItemAdd(BaseModel):
    item_id: str = Field(alias="itemId", min_length=1, max_length=32)


class ItemOut(ResponseModel):
    id: str
    type: ItemType
    title: str
    description: str | None
    content: str | None
    url: str | None
    fileName: str | None
    mimeType: str | None
    size: int = Field(description="bytes stored: the file, or the UTF-8 text of the content")
    tags: list[str]
    source: str
    favorite: bool
    archived: bool
    createdAt: Timestamp
    updatedAt: Timestamp


class ItemList(ResponseModel):
    items: list[ItemOut]
    total: int
    page: int
    limit: int


class CollectionBrief(ResponseModel):
    id: str
    name: str
    color: str | None
    icon: str | None
    isDefault: bool


class ItemDetail(ItemOut):
    collections: list[CollectionBrief]


class LibraryStats(ResponseModel):
    total: int
    images: int
    videos: int
    files: int
    code: int
    conversations: int
    notes: int
    storageUsed: int = Field(description="bytes: library items, files and chat attachments")
    storageLimit: int = Field(description="bytes the plan allows")


class CollectionOut(ResponseModel):
    id: str
    name: str
    description: str | None
    color: str | None
    icon: str | None
    isDefault: bool
    itemCount: int
    createdAt: Timestamp
    updatedAt: Timestamp


class CollectionList(ResponseModel):
    collections: list[CollectionOut]


class CollectionDetail(CollectionOut):
    items: list[ItemOut]


def item_out(item: ContentItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "title": item.title,
        "description": item.description,
        "content": item.content,
        "url": item.url,
        "fileName": item.file_name,
        "mimeType": item.mime_type,
        "size": item.size,
        "tags": tag_list(item.tags),
        "source": item.source,
        "favorite": item.favorite,
        "archived": item.archived,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }


def collection_out(collection: Collection, item_count: int) -> dict[str, Any]:
    return {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "color": collection.color,
        "icon": collection.icon,
        "isDefault": collection.is_default,
        "itemCount": item_count,
        "createdAt": iso(collection.created_at),
        "updatedAt": iso(collection.updated_at),
    }

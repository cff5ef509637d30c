"""Content items: create, list (filters, sorts, full-text search), update, delete, stats."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.config import Settings
from llmportal.errors import PortalError, not_found
from llmportal.library.models import ITEM_TYPES, Collection, CollectionItem, ContentItem
from llmportal.library.schemas import ItemCreate, ItemFilters, ItemUpdate, UploadFields
from llmportal.library.search import SearchClause, search_terms
from llmportal.quota import storage as allowance
from llmportal.storage import StoredObject, display_name
from llmportal.users.models import User

STATS_KEYS = {
    "IMAGE": "images",
    "VIDEO": "videos",
    "FILE": "files",
    "CODE": "code",
    "CONVERSATION": "conversations",
    "NOTE": "notes",
}
_SORTS = {
    "newest": (ContentItem.created_at.desc(), ContentItem.id.desc()),
    "oldest": (ContentItem.created_at.asc(), ContentItem.id.asc()),
    "name_asc": (func.lower(ContentItem.title).asc(), ContentItem.id.asc()),
    "name_desc": (func.lower(ContentItem.title).desc(), ContentItem.id.desc()),
    "size": (ContentItem.size.desc(), ContentItem.created_at.desc(), ContentItem.id.desc()),
}


async def get_item(db: AsyncSession, user_id: str, item_id: str) -> ContentItem:
    item = await db.scalar(
        select(ContentItem).where(ContentItem.id == item_id, ContentItem.user_id == user_id)
    )
    if item is None:
        raise not_found("Content item not found")
    return item


async def get_item_by_file(db: AsyncSession, user_id: str, storage_name: str) -> ContentItem:
    item = await db.scalar(
        select(ContentItem).where(
            ContentItem.user_id == user_id, ContentItem.storage_name == storage_name
        )
    )
    if item is None:
        raise not_found("File not found")
    return item


async def item_collections(db: AsyncSession, item_id: str) -> list[Collection]:
    rows = await db.scalars(
        select(Collection)
        .join(CollectionItem, CollectionItem.collection_id == Collection.id)
        .where(CollectionItem.item_id == item_id)
        .order_by(Collection.is_default.desc(), func.lower(Collection.name))
    )
    return list(rows)


async def list_items(
    db: AsyncSession, user_id: str, filters: ItemFilters
) -> tuple[list[ContentItem], int]:
    stmt: Select[Any] = select(ContentItem).where(ContentItem.user_id == user_id)
    if filters.type:
        stmt = stmt.where(ContentItem.type == filters.type)
    if filters.source:
        stmt = stmt.where(ContentItem.source == filters.source)
    if filters.favorite is not None:
        stmt = stmt.where(ContentItem.favorite == filters.favorite)
    # Archived items stay out of the list unless asked for.
    stmt = stmt.where(ContentItem.archived == bool(filters.archived))
    if filters.collection_id:
        owned = await db.scalar(
            select(Collection.id).where(
                Collection.id == filters.collection_id, Collection.user_id == user_id
            )
        )
        if owned is None:
            raise not_found("Collection not found")
        stmt = stmt.join(
            CollectionItem,
            and_(
                CollectionItem.item_id == ContentItem.id,
                CollectionItem.collection_id == filters.collection_id,
            ),
        )
    search: SearchClause | None = None
    if filters.search is not None and filters.search.strip():
        terms = search_terms(filters.search)
        if not terms:
            return [], 0
        search = SearchClause(db.get_bind().dialect.name, terms)
        stmt = search.apply(stmt)

    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    sort = filters.sort_by or ("relevance" if search else "newest")
    order: tuple[ColumnElement[Any], ...]
    if sort == "relevance":
        order = (search.rank(), *_SORTS["newest"]) if search else _SORTS["newest"]
    else:
        order = _SORTS[sort]
    page = stmt.order_by(*order).limit(filters.limit).offset((filters.page - 1) * filters.limit)
    return list(await db.scalars(page)), total


def _text_size(content: str | None) -> int:
    return len(content.encode("utf-8")) if content else 0


async def create_item(
    db: AsyncSession, settings: Settings, user: User, data: ItemCreate
) -> ContentItem:
    size = _text_size(data.content)
    await allowance.reserve(db, settings, user, size)
    item = ContentItem(
        user_id=user.id,
        type=data.type,
        title=data.title,
        description=data.description,
        content=data.content,
        url=data.url,
        file_name=data.file_name,
        mime_type=data.mime_type,
        size=size,
        tags=data.tags,
        source=data.source,
        favorite=data.favorite,
        archived=data.archived,
    )
    db.add(item)
    await db.flush()
    return item


async def create_uploaded_item(
    db: AsyncSession,
    settings: Settings,
    user: User,
    stored: StoredObject,
    *,
    original_name: str | None,
    item_type: str,
    text_content: str | None,
    fields: UploadFields,
) -> ContentItem:
    await allowance.reserve(db, settings, user, stored.size)
    file_name = display_name(original_name)
    item = ContentItem(
        user_id=user.id,
        type=item_type,
        title=(fields.title or "").strip() or file_name,
        description=fields.description,
        content=text_content,
        url=f"/api/stuff/download/{user.id}/{stored.name}",
        file_name=file_name,
        mime_type=stored.mime_type,
        size=stored.size,
        storage_name=stored.name,
        sha256=stored.sha256,
        tags=fields.tags,
        source=fields.source,
    )
    db.add(item)
    await db.flush()
    return item


async def update_item(
    db: AsyncSession, user_id: str, item_id: str, data: ItemUpdate
) -> ContentItem:
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise PortalError(
            400, "Nothing to update: send title, description, tags, favorite or archived"
        )
    item = await get_item(db, user_id, item_id)
    for field, value in changes.items():
        setattr(item, field, value)
    await db.flush()
    await db.refresh(item)
    return item


async def delete_item(db: AsyncSession, user_id: str, item_id: str) -> str | None:
    """Delete the row; returns the stored file's name, to remove once the deletion is committed."""
    item = await get_item(db, user_id, item_id)
    storage_name = item.storage_name
    await db.delete(item)
    await db.flush()
    return storage_name


async def stats(db: AsyncSession, settings: Settings, user: User) -> dict[str, int]:
    rows = await db.execute(
        select(ContentItem.type, func.count(), func.coalesce(func.sum(ContentItem.size), 0))
        .where(ContentItem.user_id == user.id)
        .group_by(ContentItem.type)
    )
    out = {"total": 0, **{key: 0 for key in STATS_KEYS.values()}}
    for item_type, count, _size in rows:
        if item_type in ITEM_TYPES:
            out[STATS_KEYS[item_type]] = int(count)
        out["total"] += int(count)
    # Storage is the plan's one allowance: library items, files and chat attachments together.
    return {
        **out,
        "storageUsed": await allowance.storage_used(db, user.id),
        "storageLimit": allowance.storage_limit(settings, user),
    }

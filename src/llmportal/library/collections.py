"""Collections: named groups of a user's content items. Every user has one default collection."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.errors import PortalError, not_found
from llmportal.library.models import Collection, CollectionItem, ContentItem
from llmportal.library.schemas import CollectionCreate, CollectionUpdate
from llmportal.library.service import get_item

DEFAULT_NAMES = ("Unsorted", "Default collection")
DEFAULT_COLLECTION = {
    "description": "Your default collection",
    "color": "#6B7280",
    "icon": "inbox",
}


def _name_taken(name: str) -> PortalError:
    return PortalError(409, f"A collection named '{name}' already exists")


async def ensure_default(db: AsyncSession, user_id: str) -> None:
    exists = await db.scalar(
        select(Collection.id).where(Collection.user_id == user_id, Collection.is_default)
    )
    if exists is not None:
        return
    taken = set(
        await db.scalars(
            select(Collection.name).where(
                Collection.user_id == user_id, Collection.name.in_(DEFAULT_NAMES)
            )
        )
    )
    name = next((n for n in DEFAULT_NAMES if n not in taken), f"Default {user_id}")
    try:
        async with db.begin_nested():
            db.add(Collection(user_id=user_id, is_default=True, name=name, **DEFAULT_COLLECTION))
    except IntegrityError:
        pass  # another request created it first


async def item_counts(db: AsyncSession, collection_ids: list[str]) -> dict[str, int]:
    if not collection_ids:
        return {}
    rows = await db.execute(
        select(CollectionItem.collection_id, func.count())
        .where(CollectionItem.collection_id.in_(collection_ids))
        .group_by(CollectionItem.collection_id)
    )
    return {cid: int(n) for cid, n in rows}


async def list_collections(db: AsyncSession, user_id: str) -> list[tuple[Collection, int]]:
    await ensure_default(db, user_id)
    collections = list(
        await db.scalars(
            select(Collection)
            .where(Collection.user_id == user_id)
            .order_by(Collection.is_default.desc(), func.lower(Collection.name), Collection.id)
        )
    )
    counts = await item_counts(db, [c.id for c in collections])
    return [(c, counts.get(c.id, 0)) for c in collections]


async def get_collection(db: AsyncSession, user_id: str, collection_id: str) -> Collection:
    collection = await db.scalar(
        select(Collection).where(Collection.id == collection_id, Collection.user_id == user_id)
    )
    if collection is None:
        raise not_found("Collection not found")
    return collection


async def count_items(db: AsyncSession, collection_id: str) -> int:
    return (await item_counts(db, [collection_id])).get(collection_id, 0)


async def collection_items(db: AsyncSession, collection_id: str) -> list[ContentItem]:
    rows = await db.scalars(
        select(ContentItem)
        .join(CollectionItem, CollectionItem.item_id == ContentItem.id)
        .where(CollectionItem.collection_id == collection_id)
        .order_by(CollectionItem.added_at.desc(), ContentItem.id.desc())
    )
    return list(rows)


async def _name_free(
    db: AsyncSession, user_id: str, name: str, except_id: str | None = None
) -> None:
    stmt = select(Collection.id).where(Collection.user_id == user_id, Collection.name == name)
    if except_id:
        stmt = stmt.where(Collection.id != except_id)
    if await db.scalar(stmt) is not None:
        raise _name_taken(name)


async def create_collection(db: AsyncSession, user_id: str, data: CollectionCreate) -> Collection:
    await _name_free(db, user_id, data.name)
    collection = Collection(
        user_id=user_id,
        name=data.name,
        description=data.description,
        color=data.color,
        icon=data.icon,
        is_default=False,
    )
    try:
        async with db.begin_nested():
            db.add(collection)
    except IntegrityError:
        raise _name_taken(data.name) from None
    return collection


async def update_collection(
    db: AsyncSession, user_id: str, collection_id: str, data: CollectionUpdate
) -> Collection:
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise PortalError(400, "Nothing to update: send name, description, color or icon")
    collection = await get_collection(db, user_id, collection_id)
    if "name" in changes:
        await _name_free(db, user_id, changes["name"], except_id=collection.id)
    for field, value in changes.items():
        setattr(collection, field, value)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        raise _name_taken(changes["name"]) from None
    await db.refresh(collection)
    return collection


async def delete_collection(db: AsyncSession, user_id: str, collection_id: str) -> None:
    collection = await get_collection(db, user_id, collection_id)
    if collection.is_default:
        raise PortalError(400, "The default collection cannot be deleted")
    await db.delete(collection)
    await db.flush()


async def add_item(db: AsyncSession, user_id: str, collection_id: str, item_id: str) -> Collection:
    collection = await get_collection(db, user_id, collection_id)
    await get_item(db, user_id, item_id)
    present = await db.scalar(
        select(CollectionItem.item_id).where(
            CollectionItem.collection_id == collection_id, CollectionItem.item_id == item_id
        )
    )
    if present is not None:
        raise PortalError(409, "Item is already in this collection")
    try:
        async with db.begin_nested():
            db.add(CollectionItem(collection_id=collection_id, item_id=item_id))
    except IntegrityError:
        raise PortalError(409, "Item is already in this collection") from None
    return collection


async def remove_item(db: AsyncSession, user_id: str, collection_id: str, item_id: str) -> None:
    await get_collection(db, user_id, collection_id)
    result = await db.execute(
        delete(CollectionItem).where(
            CollectionItem.collection_id == collection_id, CollectionItem.item_id == item_id
        )
    )
    if getattr(result, "rowcount", 0) == 0:
        raise not_found("Item is not in this collection")

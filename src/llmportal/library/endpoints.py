"""HTTP for the library: /api/stuff (content items) and /api/collections."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import ValidationError

from llmportal.db import on_rollback
from llmportal.deps import DbSession, PortalDep, Principal, require_permission
from llmportal.errors import PortalError, describe_validation_error
from llmportal.library import collections, service
from llmportal.library.files import (
    MAX_UPLOAD_BYTES,
    FileMeta,
    file_response,
    item_type_for,
    receive_upload,
    text_content,
)
from llmportal.library.saved_images import SavedImages
from llmportal.library.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionItemAdd,
    CollectionList,
    CollectionOut,
    CollectionUpdate,
    ItemCreate,
    ItemDetail,
    ItemFilters,
    ItemList,
    ItemOut,
    ItemUpdate,
    LibraryStats,
    UploadFields,
    collection_out,
    item_out,
)
from llmportal.openapi import Success, download_responses, errors, multipart_body, request_headers
from llmportal.portal import Portal
from llmportal.quota import storage as allowance
from llmportal.storage import Storage as StorageBackend
from llmportal.storage import check_key
from llmportal.uploads import storage_for

LibraryPrincipal = Annotated[Principal, Depends(require_permission("library"))]

stuff = APIRouter(prefix="/api/stuff", tags=["library"])
collections_router = APIRouter(prefix="/api/collections", tags=["library"])


def _storage(portal: PortalDep) -> StorageBackend:
    return storage_for(portal)


Storage = Annotated[StorageBackend, Depends(_storage)]


def _brief(c: Any) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "color": c.color, "icon": c.icon, "isDefault": c.is_default}


@stuff.get("", response_model=ItemList, responses=errors(404))
async def list_items(
    principal: LibraryPrincipal, db: DbSession, filters: Annotated[ItemFilters, Query()]
) -> dict[str, Any]:
    items, total = await service.list_items(db, principal.user.id, filters)
    return {
        "items": [item_out(i) for i in items],
        "total": total,
        "page": filters.page,
        "limit": filters.limit,
    }


@stuff.post("", status_code=201, response_model=ItemOut, responses=errors(413))
async def create_item(
    body: ItemCreate, principal: LibraryPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    item = await service.create_item(db, portal.settings, principal.user, body)
    return item_out(item)


@stuff.get("/stats", response_model=LibraryStats)
async def stats(principal: LibraryPrincipal, db: DbSession, portal: PortalDep) -> dict[str, int]:
    return await service.stats(db, portal.settings, principal.user)


_UPLOAD_FIELDS = {
    "title": {"type": "string", "maxLength": 500},
    "description": {"type": "string", "maxLength": 5000},
    "tags": {"type": "string", "description": "comma-separated"},
    "source": {"type": "string"},
}


@stuff.post(
    "/upload",
    status_code=201,
    response_model=ItemOut,
    responses=errors(413),
    openapi_extra=multipart_body("file", fields=_UPLOAD_FIELDS),
)
async def upload(
    request: Request,
    principal: LibraryPrincipal,
    db: DbSession,
    portal: PortalDep,
    storage: Storage,
) -> dict[str, Any]:
    user = principal.user
    left = await allowance.before_upload(db, portal.settings, user)
    # End the read transaction so no connection (nor an old SQLite snapshot) is held while the
    # body streams; the allowance is checked again when the item is written.
    await db.commit()
    with left.streaming(MAX_UPLOAD_BYTES):
        received = await receive_upload(
            request, storage, user.id, max_bytes=left.max_bytes(MAX_UPLOAD_BYTES)
        )
    stored = received.stored
    try:
        try:
            fields = UploadFields.model_validate(received.fields)
        except ValidationError as exc:
            raise PortalError(400, describe_validation_error(list(exc.errors()))) from None
        item = await service.create_uploaded_item(
            db,
            portal.settings,
            user,
            stored,
            original_name=received.filename,
            item_type=item_type_for(stored.mime_type, received.filename),
            text_content=await text_content(storage, stored),
            fields=fields,
        )
    except BaseException:
        await storage.delete(user.id, stored.name)
        raise
    # The commit comes after this function returns: should it fail, no file stays.
    on_rollback(db, partial(storage.delete, user.id, stored.name))
    return item_out(item)


@stuff.get(
    "/download/{user_id}/{filename}",
    response_class=Response,
    responses=download_responses(ranges=True, revalidation=True),
    openapi_extra=request_headers("Range", "If-Range", "If-None-Match", "If-Modified-Since"),
)
async def download(
    user_id: str,
    filename: str,
    request: Request,
    principal: LibraryPrincipal,
    db: DbSession,
    storage: Storage,
) -> Response:
    if user_id != principal.user.id:
        raise PortalError(404, "File not found")
    check_key(user_id, filename)
    item = await service.get_item_by_file(db, user_id, filename)
    found = await storage.stat(user_id, filename)
    if found is None:
        raise PortalError(404, "File not found")
    meta = FileMeta(
        storage=storage,
        user_id=user_id,
        name=filename,
        size=found.size,
        etag=f'"{item.sha256}"',
        last_modified=item.created_at,
        mime_type=item.mime_type or "application/octet-stream",
        filename=item.file_name or filename,
    )
    return file_response(request, meta)


stuff.add_api_route(
    "/download/{user_id}/{filename}", download, methods=["HEAD"], include_in_schema=False
)


@stuff.get("/{item_id}", response_model=ItemDetail)
async def get_item(item_id: str, principal: LibraryPrincipal, db: DbSession) -> dict[str, Any]:
    item = await service.get_item(db, principal.user.id, item_id)
    found = await service.item_collections(db, item.id)
    return {**item_out(item), "collections": [_brief(c) for c in found]}


@stuff.patch("/{item_id}", response_model=ItemOut)
async def update_item(
    item_id: str, body: ItemUpdate, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    item = await service.update_item(db, principal.user.id, item_id, body)
    return item_out(item)


@stuff.delete("/{item_id}", response_model=Success)
async def delete_item(
    item_id: str,
    principal: LibraryPrincipal,
    db: DbSession,
    storage: Storage,
    tasks: BackgroundTasks,
) -> dict[str, bool]:
    storage_name = await service.delete_item(db, principal.user.id, item_id)
    if storage_name:
        # Runs after the response, so only once the deletion has been committed.
        tasks.add_task(storage.delete, principal.user.id, storage_name)
    return {"success": True}


@collections_router.get("", response_model=CollectionList)
async def list_collections(principal: LibraryPrincipal, db: DbSession) -> dict[str, Any]:
    rows = await collections.list_collections(db, principal.user.id)
    return {"collections": [collection_out(c, n) for c, n in rows]}


@collections_router.post("", status_code=201, response_model=CollectionOut, responses=errors(409))
async def create_collection(
    body: CollectionCreate, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    collection = await collections.create_collection(db, principal.user.id, body)
    return collection_out(collection, 0)


@collections_router.get("/{collection_id}", response_model=CollectionDetail)
async def get_collection(
    collection_id: str, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    collection = await collections.get_collection(db, principal.user.id, collection_id)
    items = await collections.collection_items(db, collection.id)
    return {**collection_out(collection, len(items)), "items": [item_out(i) for i in items]}


@collections_router.patch("/{collection_id}", response_model=CollectionOut, responses=errors(409))
async def update_collection(
    collection_id: str, body: CollectionUpdate, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    collection = await collections.update_collection(db, principal.user.id, collection_id, body)
    return collection_out(collection, await collections.count_items(db, collection.id))


@collections_router.delete("/{collection_id}", response_model=Success, responses=errors(400))
async def delete_collection(
    collection_id: str, principal: LibraryPrincipal, db: DbSession
) -> dict[str, bool]:
    await collections.delete_collection(db, principal.user.id, collection_id)
    return {"success": True}


@collections_router.post(
    "/{collection_id}/items",
    status_code=201,
    response_model=CollectionOut,
    responses=errors(409),
)
async def add_collection_item(
    collection_id: str, body: CollectionItemAdd, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    collection = await collections.add_item(db, principal.user.id, collection_id, body.item_id)
    return collection_out(collection, await collections.count_items(db, collection.id))


@collections_router.delete("/{collection_id}/items", response_model=Success)
async def remove_collection_item(
    collection_id: str,
    principal: LibraryPrincipal,
    db: DbSession,
    item_id: Annotated[str, Query(alias="itemId", min_length=1, max_length=32)],
) -> dict[str, bool]:
    await collections.remove_item(db, principal.user.id, collection_id, item_id)
    return {"success": True}


router = APIRouter()
router.include_router(stuff)
router.include_router(collections_router)


async def startup(portal: Portal) -> None:
    # What image generation with save_to_library uses (the gateway's "image_library").
    storage = storage_for(portal)
    portal.services["image_library"] = SavedImages(portal.sessionmaker, portal.settings, storage)

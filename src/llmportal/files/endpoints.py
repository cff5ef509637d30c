from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from starlette.responses import FileResponse

from llmportal.db import on_rollback
from llmportal.deps import DbSession, PortalDep, Principal, require_permission
from llmportal.files import service
from llmportal.files.schemas import FileList, FileOut, file_out
from llmportal.openapi import Success, download_responses, errors, multipart_body, request_headers
from llmportal.quota import storage as allowance
from llmportal.uploads import (
    download_response,
    multipart_upload,
    remove_after_response,
    storage_for,
)

router = APIRouter(prefix="/api/files", tags=["files"])

FilesPrincipal = Annotated[Principal, Depends(require_permission("files"))]


@router.get("", response_model=FileList)
async def list_files(
    principal: FilesPrincipal,
    db: DbSession,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    rows, total = await service.list_page(db, principal.user.id, page=page, limit=limit)
    return {"files": [file_out(f) for f in rows], "total": total, "page": page, "limit": limit}


@router.post(
    "/upload",
    status_code=201,
    response_model=FileOut,
    responses=errors(413),
    openapi_extra=multipart_body("file"),
)
async def upload_file(
    request: Request, principal: FilesPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    user, per_file = principal.user, portal.settings.max_upload_bytes
    left = await allowance.before_upload(db, portal.settings, user)
    # Authenticated: end the read transaction so no connection is held while the body streams.
    await db.commit()
    with left.streaming(per_file):
        storage = storage_for(portal)
        async with multipart_upload(
            request,
            storage,
            user.id,
            file_field="file",
            max_files=1,
            max_bytes=left.max_bytes(per_file),
        ) as upload:
            await allowance.reserve(db, portal.settings, user, upload.files[0].size)
            row = await service.create(db, user.id, upload.files[0])
            # The commit comes after this function returns: should it fail, no file stays.
            on_rollback(db, partial(upload.discard, storage))
    return file_out(row)


@router.get("/{file_id}", response_model=FileOut)
async def get_file(file_id: str, principal: FilesPrincipal, db: DbSession) -> dict[str, Any]:
    return file_out(await service.get_owned(db, principal.user.id, file_id))


@router.get(
    "/{file_id}/content",
    response_class=FileResponse,
    responses=download_responses(ranges=True),
    openapi_extra=request_headers("Range", "If-Range"),
)
async def download_file(
    file_id: str, principal: FilesPrincipal, db: DbSession, portal: PortalDep
) -> FileResponse:
    row = await service.get_owned(db, principal.user.id, file_id)
    return await download_response(
        storage_for(portal), row.user_id, row.storage_name, row.name, row.mime_type
    )


@router.delete("/{file_id}", response_model=Success)
async def delete_file(
    file_id: str,
    principal: FilesPrincipal,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
) -> dict[str, bool]:
    row = await service.delete_owned(db, principal.user.id, file_id)
    remove_after_response(background, storage_for(portal), [(row.user_id, row.storage_name)])
    return {"success": True}

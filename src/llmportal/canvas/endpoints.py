"""HTTP for canvas documents: /api/canvas/:sessionId and its version snapshots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from llmportal.canvas import service
from llmportal.canvas.schemas import (
    CanvasConflict,
    CanvasOut,
    CanvasPut,
    CanvasSaved,
    VersionList,
    VersionOut,
    document_out,
    version_out,
)
from llmportal.deps import DbSession, Principal, require_permission
from llmportal.openapi import Success

LibraryPrincipal = Annotated[Principal, Depends(require_permission("library"))]
SessionId = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter(prefix="/api/canvas", tags=["canvas"])


@router.get("/{session_id}", response_model=CanvasOut)
async def get_canvas(
    session_id: SessionId, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    doc = await service.find_document(db, principal.user.id, session_id)
    if doc is None:
        return {"document": None, "versions": []}
    versions = await service.list_versions(db, doc.id, service.RECENT_SNAPSHOTS)
    return {"document": document_out(doc), "versions": [version_out(v) for v in versions]}


@router.put(
    "/{session_id}",
    response_model=CanvasSaved,
    responses={
        201: {"model": CanvasSaved, "description": "Created"},
        409: {
            "model": CanvasConflict,
            "description": "The version sent is not the current one: the body has the current",
        },
    },
)
async def put_canvas(
    session_id: SessionId,
    body: CanvasPut,
    principal: LibraryPrincipal,
    db: DbSession,
    response: Response,
) -> dict[str, Any]:
    doc, created = await service.save_document(db, principal.user.id, session_id, body)
    if created:
        response.status_code = 201
    return {"document": document_out(doc)}


@router.delete("/{session_id}", response_model=Success)
async def delete_canvas(
    session_id: SessionId, principal: LibraryPrincipal, db: DbSession
) -> dict[str, bool]:
    await service.delete_document(db, principal.user.id, session_id)
    return {"success": True}


@router.get("/{session_id}/versions", response_model=VersionList)
async def list_versions(
    session_id: SessionId, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    doc = await service.find_document(db, principal.user.id, session_id)
    versions = await service.list_versions(db, doc.id) if doc else []
    return {"versions": [version_out(v) for v in versions]}


@router.post("/{session_id}/versions", status_code=201, response_model=VersionOut)
async def create_version(
    session_id: SessionId, principal: LibraryPrincipal, db: DbSession
) -> dict[str, Any]:
    doc = await service.get_document(db, principal.user.id, session_id)
    return version_out(await service.snapshot(db, doc))

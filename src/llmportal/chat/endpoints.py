from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.responses import FileResponse

from llmportal.chat import attachments, service
from llmportal.chat.completions import CompletionLink
from llmportal.chat.schemas import (
    AttachmentList,
    MessageCreate,
    MessageList,
    MessageOut,
    MessageUpdate,
    Rated,
    RatingIn,
    SessionCreate,
    SessionDetail,
    SessionList,
    SessionOut,
    SessionUpdate,
    attachment_out,
    message_out,
    session_out,
)
from llmportal.db import on_rollback
from llmportal.deps import DbSession, PortalDep, Principal, require_permission
from llmportal.gateway.tokens import TokenCounter
from llmportal.openapi import Success, download_responses, errors, multipart_body, request_headers
from llmportal.portal import Portal
from llmportal.quota import storage as allowance
from llmportal.uploads import (
    download_response,
    multipart_upload,
    remove_after_response,
    storage_for,
)

router = APIRouter(prefix="/api/chat", tags=["chat"])

ChatPrincipal = Annotated[Principal, Depends(require_permission("chat"))]


def token_counter(portal: Portal) -> TokenCounter:
    counter: TokenCounter | None = portal.services.get("chat.token_counter")
    if counter is None:
        counter = TokenCounter(portal.settings.catalog)
        portal.services["chat.token_counter"] = counter
    return counter


# Sessions


@router.get("/sessions", response_model=SessionList)
async def list_sessions(principal: ChatPrincipal, db: DbSession) -> dict[str, Any]:
    rows = await service.list_sessions(db, principal.user.id)
    return {"sessions": [session_out(s, n) for s, n in rows]}


@router.post("/sessions", status_code=201, response_model=SessionDetail, responses=errors(404))
async def create_session(
    body: SessionCreate, principal: ChatPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    session = await service.create_session(
        db, principal.user.id, portal.settings.catalog, title=body.title, model=body.model
    )
    return {**session_out(session, 0), "messages": []}


@router.get("/sessions/{session_id}", response_model=SessionDetail)
async def get_session(session_id: str, principal: ChatPrincipal, db: DbSession) -> dict[str, Any]:
    session = await service.get_session(db, principal.user.id, session_id)
    rows = await service.list_messages(db, principal.user.id, session_id)
    return {
        **session_out(session, len(rows)),
        "messages": [message_out(m, files) for m, files in rows],
    }


@router.patch("/sessions/{session_id}", response_model=SessionOut)
async def update_session(
    session_id: str,
    body: SessionUpdate,
    principal: ChatPrincipal,
    db: DbSession,
    portal: PortalDep,
) -> dict[str, Any]:
    session = await service.update_session(
        db,
        principal.user.id,
        session_id,
        portal.settings.catalog,
        body.model_dump(exclude_unset=True),
    )
    return session_out(session)


@router.delete("/sessions/{session_id}", response_model=Success)
async def delete_session(
    session_id: str,
    principal: ChatPrincipal,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
) -> dict[str, bool]:
    files = await service.delete_session(db, principal.user.id, session_id)
    remove_after_response(background, storage_for(portal), files)
    return {"success": True}


# Messages


@router.get("/sessions/{session_id}/messages", response_model=MessageList)
async def list_messages(session_id: str, principal: ChatPrincipal, db: DbSession) -> dict[str, Any]:
    rows = await service.list_messages(db, principal.user.id, session_id)
    return {"messages": [message_out(m, files) for m, files in rows]}


@router.post("/messages", status_code=201, response_model=MessageOut, responses=errors(404))
async def create_message(
    body: MessageCreate, principal: ChatPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    message, files = await service.create_message(
        db,
        principal.user.id,
        portal.settings.catalog,
        token_counter(portal),
        session_id=body.session_id,
        role=body.role,
        content=body.content,
        model=body.model,
        attachment_refs=body.attachments,
        metadata=body.metadata,
    )
    return message_out(message, files)


@router.patch("/messages/{message_id}", response_model=MessageOut)
async def update_message(
    message_id: str,
    body: MessageUpdate,
    principal: ChatPrincipal,
    db: DbSession,
    portal: PortalDep,
) -> dict[str, Any]:
    message, files = await service.update_message(
        db,
        principal.user.id,
        token_counter(portal),
        portal.settings.catalog,
        message_id,
        body.model_dump(exclude_unset=True, by_alias=True),
    )
    return message_out(message, files)


@router.post("/messages/{message_id}/rating", response_model=Rated)
async def rate_message(
    message_id: str, body: RatingIn, principal: ChatPrincipal, db: DbSession
) -> dict[str, Any]:
    rating = await service.rate_message(db, principal.user.id, message_id, body.rating)
    return {"success": True, "rating": rating}


# Attachments


@router.post(
    "/attachments",
    status_code=201,
    response_model=AttachmentList,
    responses=errors(413),
    openapi_extra=multipart_body("files", max_files=attachments.MAX_FILES_PER_UPLOAD),
)
async def upload_attachments(
    request: Request, principal: ChatPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    user, per_file = principal.user, portal.settings.max_upload_bytes
    left = await allowance.before_upload(db, portal.settings, user)
    # Authenticated: end the read transaction so no connection is held while the body streams.
    await db.commit()
    storage = storage_for(portal)
    with left.streaming(per_file):
        async with multipart_upload(
            request,
            storage,
            user.id,
            file_field="files",
            max_files=attachments.MAX_FILES_PER_UPLOAD,
            max_bytes=left.max_bytes(per_file),
        ) as upload:
            total = sum(f.size for f in upload.files)
            await allowance.reserve(db, portal.settings, user, total)
            rows = await attachments.create_from_upload(db, user.id, upload.files)
            # The commit comes after this function returns: should it fail, no file stays.
            on_rollback(db, partial(upload.discard, storage))
    return {"attachments": [attachment_out(a) for a in rows]}


@router.get(
    "/attachments/{attachment_id}",
    response_class=FileResponse,
    responses=download_responses(ranges=True),
    openapi_extra=request_headers("Range", "If-Range"),
)
async def download_attachment(
    attachment_id: str, principal: ChatPrincipal, db: DbSession, portal: PortalDep
) -> FileResponse:
    row = await attachments.get_owned(db, principal.user.id, attachment_id)
    return await download_response(
        storage_for(portal), row.user_id, row.storage_name, row.name, row.mime_type
    )


@router.delete("/attachments/{attachment_id}", response_model=Success)
async def delete_attachment(
    attachment_id: str,
    principal: ChatPrincipal,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
) -> dict[str, bool]:
    row = await attachments.delete_owned(db, principal.user.id, attachment_id)
    remove_after_response(background, storage_for(portal), [(row.user_id, row.storage_name)])
    return {"success": True}


async def startup(portal: Portal) -> None:
    # What completions with session_id / attachments use (the gateway's "chat_link").
    portal.services["chat_link"] = CompletionLink(portal.sessionmaker, storage_for(portal))

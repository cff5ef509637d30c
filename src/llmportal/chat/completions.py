"""The chat side of a completion (the gateway's ChatLink): a `session_id` must be the caller's
session, `attachments` the caller's uploads, checked before the model runs; once a completion
has finished, its exchange is stored in the session, each step in a short transaction of its
own so no database session is held while the model answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.chat import attachments as attachment_rows
from llmportal.chat import service
from llmportal.chat.model_parts import IMAGE_TYPES, model_parts_for_attachments
from llmportal.chat.models import ChatAttachment
from llmportal.config import ModelConfig
from llmportal.db import transaction
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.files.models import StoredFile
from llmportal.gateway.chatlink import Reply
from llmportal.gateway.types import ChatRequest, Message
from llmportal.storage import Storage


@dataclass(slots=True)
class Upload:
    """A chat attachment or an /api/files file, detached from its database session."""

    id: str
    user_id: str
    name: str
    mime_type: str
    size: int
    storage_name: str
    is_chat_attachment: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    session_id: str | None
    user_text: str  # the turn's user message, "" for a turn that only sends tool results
    uploads: tuple[Upload, ...]
    linked: bool  # the uploads belong to the stored user message


def _upload(row: ChatAttachment | StoredFile) -> Upload:
    return Upload(
        row.id,
        row.user_id,
        row.name,
        row.mime_type,
        row.size,
        row.storage_name,
        isinstance(row, ChatAttachment),
    )


async def resolve_uploads(db: AsyncSession, user_id: str, ids: Sequence[str]) -> list[Upload]:
    """The caller's chat attachments or files with these ids, in order; 404 if any is not."""
    if not ids:
        return []
    chat_rows = (
        await db.scalars(
            select(ChatAttachment).where(
                ChatAttachment.id.in_(ids), ChatAttachment.user_id == user_id
            )
        )
    ).all()
    found = {r.id: _upload(r) for r in chat_rows}
    rest = [i for i in ids if i not in found]
    if rest:
        file_rows = (
            await db.scalars(
                select(StoredFile).where(StoredFile.id.in_(rest), StoredFile.user_id == user_id)
            )
        ).all()
        found.update({r.id: _upload(r) for r in file_rows})
    if len(found) != len(ids):
        raise attachment_rows.not_found()
    return [found[i] for i in ids]


def _last_user(messages: list[Message]) -> tuple[Message | None, bool]:
    """The last user message, and whether it is this turn's (after the last assistant one)."""
    for m in reversed(messages):
        if m.role == "user":
            return m, True
        if m.role == "assistant":
            break
    for m in reversed(messages):
        if m.role == "user":
            return m, False
    return None, False


def check_images(principal: Principal, model: ModelConfig, uploads: Sequence[Upload]) -> None:
    image = next((u for u in uploads if u.mime_type in IMAGE_TYPES), None)
    if image is None:
        return
    if not principal.has_permission("vision"):
        raise PortalError(403, "This API key lacks the 'vision' permission")
    if not model.vision:
        raise PortalError(
            400, f"Model '{model.id}' does not accept images (attachment '{image.name}')"
        )


class CompletionLink:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage) -> None:
        self.sessionmaker = sessionmaker
        self.storage = storage

    async def prepare(
        self, principal: Principal, req: ChatRequest, model: ModelConfig
    ) -> Prepared | None:
        if req.session_id is None and not req.attachment_ids:
            return None
        target, this_turn = _last_user(req.messages)
        if req.attachment_ids and target is None:
            raise PortalError(400, "attachments: the request has no user message to attach to")
        async with transaction(self.sessionmaker) as db:
            if req.session_id is not None:
                await service.get_session(db, principal.user.id, req.session_id)
            uploads = await resolve_uploads(db, principal.user.id, req.attachment_ids)
        check_images(principal, model, uploads)
        user_text = target.text if target is not None and this_turn else ""
        if target is not None and uploads:
            target.content.extend(await model_parts_for_attachments(self.storage, uploads))
        return Prepared(req.session_id, user_text, tuple(uploads), this_turn)

    async def store(
        self, principal: Principal, req: ChatRequest, prepared: Prepared | None, reply: Reply
    ) -> None:
        if prepared is None or prepared.session_id is None:
            return
        uploads = prepared.uploads if prepared.linked else ()
        async with transaction(self.sessionmaker) as db:
            await service.record_exchange(
                db,
                user_id=principal.user.id,
                session_id=prepared.session_id,
                user_message=prepared.user_text,
                assistant_content=reply.content,
                tool_calls=[
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in reply.tool_calls
                ],
                model=req.model,
                prompt_tokens=reply.usage.prompt_tokens,
                completion_tokens=reply.usage.completion_tokens,
                attachment_ids=[u.id for u in uploads if u.is_chat_attachment],
                file_ids=[u.id for u in uploads if not u.is_chat_attachment],
            )

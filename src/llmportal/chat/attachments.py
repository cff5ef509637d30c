"""Chat attachments: uploaded files that a message takes along. Owner-only, ids answer 404 to
anyone else."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.chat.models import ChatAttachment
from llmportal.chat.schemas import AttachmentRef
from llmportal.errors import PortalError
from llmportal.uploads import ReceivedFile

MAX_FILES_PER_UPLOAD = 5
_URL_ID = re.compile(r"/api/chat/attachments/([A-Za-z0-9]{1,64})/?$")


def not_found() -> PortalError:
    return PortalError(404, "Attachment not found")


async def create_from_upload(
    db: AsyncSession, user_id: str, files: Sequence[ReceivedFile]
) -> list[ChatAttachment]:
    rows = [
        ChatAttachment(
            user_id=user_id,
            name=f.filename,
            mime_type=f.mime_type,
            size=f.size,
            storage_name=f.stored.name,
            sha256=f.stored.sha256,
        )
        for f in files
    ]
    db.add_all(rows)
    await db.flush()
    return rows


async def get_owned(db: AsyncSession, user_id: str, attachment_id: str) -> ChatAttachment:
    row = await db.scalar(
        select(ChatAttachment).where(
            ChatAttachment.id == attachment_id, ChatAttachment.user_id == user_id
        )
    )
    if row is None:
        raise not_found()
    return row


def ref_id(ref: AttachmentRef) -> str:
    if ref.id:
        return ref.id
    match = _URL_ID.search(ref.url or "")
    if match is None:
        raise PortalError(400, "attachments: each attachment needs the id or url of an upload")
    return match.group(1)


async def owned_by_ids(db: AsyncSession, user_id: str, ids: Sequence[str]) -> list[ChatAttachment]:
    """The user's attachments with these ids, in that order; 404 if any is not theirs."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    rows = (
        await db.scalars(
            select(ChatAttachment).where(
                ChatAttachment.id.in_(ids), ChatAttachment.user_id == user_id
            )
        )
    ).all()
    by_id = {r.id: r for r in rows}
    if len(by_id) != len(ids):
        raise not_found()
    return [by_id[i] for i in ids]


async def resolve_refs(
    db: AsyncSession, user_id: str, refs: Iterable[AttachmentRef]
) -> list[ChatAttachment]:
    """The user's attachments that refs name (by id or url), in order."""
    return await owned_by_ids(db, user_id, [ref_id(r) for r in refs])


def ensure_unlinked(attachments: Iterable[ChatAttachment]) -> None:
    for a in attachments:
        if a.message_id is not None:
            raise PortalError(400, f"Attachment '{a.id}' already belongs to a message")


def link(attachments: Iterable[ChatAttachment], message_id: str) -> None:
    ensure_unlinked(attachments)
    for a in attachments:
        a.message_id = message_id


async def for_messages(
    db: AsyncSession, message_ids: Sequence[str]
) -> dict[str, list[ChatAttachment]]:
    out: dict[str, list[ChatAttachment]] = {mid: [] for mid in message_ids}
    if not message_ids:
        return out
    rows = await db.scalars(
        select(ChatAttachment)
        .where(ChatAttachment.message_id.in_(message_ids))
        .order_by(ChatAttachment.created_at, ChatAttachment.id)
    )
    for row in rows:
        if row.message_id is not None:
            out[row.message_id].append(row)
    return out


async def delete_owned(db: AsyncSession, user_id: str, attachment_id: str) -> ChatAttachment:
    """Delete the row; the caller removes the stored file once the transaction commits."""
    row = await get_owned(db, user_id, attachment_id)
    await db.delete(row)
    await db.flush()
    return row

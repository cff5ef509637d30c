"""Chat sessions and their messages: the rules. Messages are rows, ordered by `position`.

Adding a message first moves its session's `updated_at` (an UPDATE of the session row), which
also serialises concurrent writers of one session, so `max(position) + 1` cannot collide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.chat import attachments as attachment_rows
from llmportal.chat.models import ChatAttachment, ChatMessage, ChatSession
from llmportal.chat.schemas import AttachmentRef
from llmportal.config import Catalog
from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.gateway.tokens import TokenCounter
from llmportal.jsonio import dumps

SESSION_LIST_LIMIT = 50
TITLE_CHARS = 60
MAX_METADATA_BYTES = 256 * 1024
_RATINGS = {"up": 1, "down": -1}

StoredRef = tuple[str, str]  # (user_id, storage_name): a file in storage


def session_not_found() -> PortalError:
    return PortalError(404, "Session not found")


def message_not_found() -> PortalError:
    return PortalError(404, "Message not found")


def check_model(catalog: Catalog, model: str) -> str:
    if all(m.id != model for m in catalog.models):
        raise PortalError(404, f"Model '{model}' not found")
    return model


def title_from(text: str) -> str | None:
    """A session title from a first message: its first words, whitespace collapsed."""
    flat = re.sub(r"\s+", " ", text).strip()
    if not flat:
        return None
    if len(flat) <= TITLE_CHARS:
        return flat
    cut = flat[:TITLE_CHARS].rsplit(" ", 1)[0] or flat[:TITLE_CHARS]
    return cut.rstrip(" ,.;:") + "…"


async def count_tokens(counter: TokenCounter, model: str | None, text: str) -> int:
    # The tokenizer is CPU work behind a lock: keep it off the event loop.
    return await anyio.to_thread.run_sync(counter.count, model, text)


# Sessions


async def list_sessions(db: AsyncSession, user_id: str) -> list[tuple[ChatSession, int]]:
    """The most recently active sessions, newest first, with their message counts."""
    counts = (
        select(func.count(ChatMessage.id))
        .where(ChatMessage.session_id == ChatSession.id)
        .correlate(ChatSession)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(ChatSession, counts)
        .where(ChatSession.user_id == user_id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
        .limit(SESSION_LIST_LIMIT)
    )
    return [(s, int(n)) for s, n in rows.all()]


async def create_session(
    db: AsyncSession, user_id: str, catalog: Catalog, *, title: str | None, model: str | None
) -> ChatSession:
    session = ChatSession(
        user_id=user_id,
        title=(title or "").strip() or None,
        model=check_model(catalog, model) if model else catalog.default_model,
    )
    db.add(session)
    await db.flush()
    return session


async def get_session(db: AsyncSession, user_id: str, session_id: str) -> ChatSession:
    """The user's session, or 404 (also for another user's)."""
    session = await db.scalar(
        select(ChatSession).where(ChatSession.id == session_id, ChatSession.user_id == user_id)
    )
    if session is None:
        raise session_not_found()
    return session


async def update_session(
    db: AsyncSession, user_id: str, session_id: str, catalog: Catalog, changes: dict[str, Any]
) -> ChatSession:
    if not changes:
        raise PortalError(400, "title or model is required")
    session = await get_session(db, user_id, session_id)
    if "title" in changes:
        session.title = (changes["title"] or "").strip() or None
    if "model" in changes:
        if changes["model"] is None:
            raise PortalError(400, "model must not be null")
        session.model = check_model(catalog, changes["model"])
    await db.flush()
    return session


async def delete_session(db: AsyncSession, user_id: str, session_id: str) -> list[StoredRef]:
    """Delete the session, its messages and their attachments in one transaction. Returns the
    attachments' stored files, which the caller removes once the transaction has committed."""
    session = await get_session(db, user_id, session_id)
    message_ids = select(ChatMessage.id).where(ChatMessage.session_id == session.id)
    linked = ChatAttachment.message_id.in_(message_ids)
    files = [
        (owner, name)
        for owner, name in (
            await db.execute(
                select(ChatAttachment.user_id, ChatAttachment.storage_name).where(linked)
            )
        ).all()
    ]
    no_sync = {"synchronize_session": False}
    await db.execute(delete(ChatAttachment).where(linked).execution_options(**no_sync))
    await db.execute(
        delete(ChatMessage).where(ChatMessage.session_id == session.id).execution_options(**no_sync)
    )
    await db.delete(session)
    await db.flush()
    return files


# Messages


async def list_messages(
    db: AsyncSession, user_id: str, session_id: str
) -> list[tuple[ChatMessage, list[ChatAttachment]]]:
    session = await get_session(db, user_id, session_id)
    messages = list(
        (
            await db.scalars(
                select(ChatMessage)
                .where(ChatMessage.session_id == session.id)
                .order_by(ChatMessage.position)
            )
        ).all()
    )
    linked = await attachment_rows.for_messages(db, [m.id for m in messages])
    return [(m, linked[m.id]) for m in messages]


async def get_message(db: AsyncSession, user_id: str, message_id: str) -> ChatMessage:
    message = await db.scalar(
        select(ChatMessage)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(ChatMessage.id == message_id, ChatSession.user_id == user_id)
    )
    if message is None:
        raise message_not_found()
    return message


async def _append(db: AsyncSession, session: ChatSession, **fields: Any) -> ChatMessage:
    session.updated_at = utcnow()
    await db.flush()  # the UPDATE locks the session row until commit
    last = await db.scalar(
        select(func.coalesce(func.max(ChatMessage.position), 0)).where(
            ChatMessage.session_id == session.id
        )
    )
    message = ChatMessage(session_id=session.id, position=int(last or 0) + 1, **fields)
    db.add(message)
    await db.flush()
    return message


def _give_title(session: ChatSession, role: str, content: str) -> None:
    if session.title is None and role == "user":
        session.title = title_from(content)


def _checked_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    if len(dumps(meta)) > MAX_METADATA_BYTES:
        raise PortalError(400, f"metadata is too large (limit {MAX_METADATA_BYTES} bytes)")
    return meta


async def create_message(
    db: AsyncSession,
    user_id: str,
    catalog: Catalog,
    counter: TokenCounter,
    *,
    session_id: str,
    role: str,
    content: str,
    model: str | None = None,
    attachment_refs: Sequence[AttachmentRef] = (),
    metadata: dict[str, Any] | None = None,
) -> tuple[ChatMessage, list[ChatAttachment]]:
    session = await get_session(db, user_id, session_id)
    if model is not None:
        check_model(catalog, model)
    files = await attachment_rows.resolve_refs(db, user_id, attachment_refs)
    attachment_rows.ensure_unlinked(files)
    model = model or session.model
    tokens = await count_tokens(counter, model or catalog.default_model, content)
    message = await _append(
        db,
        session,
        role=role,
        content=content,
        model=model,
        total_tokens=tokens,
        meta=_checked_metadata(metadata) if metadata else None,
    )
    attachment_rows.link(files, message.id)
    _give_title(session, role, content)
    await db.flush()
    return message, files


async def update_message(
    db: AsyncSession,
    user_id: str,
    counter: TokenCounter,
    catalog: Catalog,
    message_id: str,
    changes: dict[str, Any],
) -> tuple[ChatMessage, list[ChatAttachment]]:
    """Change content (tokens recounted) and/or merge metadata keys; a null value removes one."""
    if not changes:
        raise PortalError(400, "content, metadata or videoData is required")
    message = await get_message(db, user_id, message_id)
    if "content" in changes:
        if changes["content"] is None:
            raise PortalError(400, "content must not be null")
        message.content = changes["content"]
        message.total_tokens = await count_tokens(
            counter, message.model or catalog.default_model, message.content
        )
    meta_changes = dict(changes.get("metadata") or {})
    if "videoData" in changes:
        meta_changes["videoData"] = changes["videoData"]
    if meta_changes:
        merged = {**(message.meta or {}), **meta_changes}
        message.meta = _checked_metadata({k: v for k, v in merged.items() if v is not None})
    await db.flush()
    linked = await attachment_rows.for_messages(db, [message.id])
    return message, linked[message.id]


async def rate_message(db: AsyncSession, user_id: str, message_id: str, rating: str) -> int:
    message = await get_message(db, user_id, message_id)
    if message.role != "assistant":
        raise PortalError(400, "Only assistant messages can be rated")
    message.rating = _RATINGS[rating]
    await db.flush()
    return message.rating


async def record_exchange(
    db: AsyncSession,
    *,
    user_id: str,
    session_id: str,
    user_message: str,
    assistant_content: str | None,
    tool_calls: list[dict[str, Any]] | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    attachment_ids: Sequence[str] = (),
    file_ids: Sequence[str] = (),
) -> None:
    """Store one completion's exchange in a session: the user message, then the reply.

    The user message carries the prompt's tokens and the reply the completion's, so a session's
    token total is what its completions used. An empty `user_message` (a turn that only sent
    tool results) stores the reply alone. The session moves to the top of the list, takes the
    model, and an untitled session is titled from the user message. 404 for a session that is
    not the user's.

    The user message links the chat attachments `attachment_ids` that no message holds yet (one
    sent again on a later turn stays with its first message), and names the /api/files files
    it sent in its metadata (`files`).
    """
    session = await get_session(db, user_id, session_id)
    if user_message or attachment_ids or file_ids:
        message = await _append(
            db,
            session,
            role="user",
            content=user_message,
            model=model,
            total_tokens=prompt_tokens,
            prompt_tokens=prompt_tokens,
            meta={"files": list(file_ids)} if file_ids else None,
        )
        files = await attachment_rows.owned_by_ids(db, user_id, attachment_ids)
        attachment_rows.link([a for a in files if a.message_id is None], message.id)
        _give_title(session, "user", user_message)
    await _append(
        db,
        session,
        role="assistant",
        content=assistant_content or "",
        model=model,
        tool_calls=tool_calls or None,
        total_tokens=completion_tokens,
        completion_tokens=completion_tokens,
    )
    session.model = model
    await db.flush()

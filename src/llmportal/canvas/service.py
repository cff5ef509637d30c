"""Canvas documents: one per chat session, optimistic concurrency, capped snapshot history."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.canvas.schemas import CanvasPut, document_out
from llmportal.chat.models import ChatSession
from llmportal.db import utcnow
from llmportal.errors import PortalError, not_found

MAX_SNAPSHOTS = 50
RECENT_SNAPSHOTS = 10


async def find_document(db: AsyncSession, user_id: str, session_id: str) -> CanvasDocument | None:
    """The session's document, or None when it has none yet. 404 when the chat session does not
    exist or is another user's: the canvas belongs to its session."""
    owned = await db.scalar(
        select(ChatSession.id).where(ChatSession.id == session_id, ChatSession.user_id == user_id)
    )
    if owned is None:
        raise not_found("Chat session not found")
    doc: CanvasDocument | None = await db.scalar(
        select(CanvasDocument).where(CanvasDocument.session_id == session_id)
    )
    return doc


async def get_document(db: AsyncSession, user_id: str, session_id: str) -> CanvasDocument:
    doc = await find_document(db, user_id, session_id)
    if doc is None:
        raise not_found("Canvas document not found")
    return doc


def _conflict(doc: CanvasDocument) -> PortalError:
    return PortalError(
        409,
        f"Canvas was changed elsewhere: it is at version {doc.version}",
        currentVersion=doc.version,
        document=document_out(doc),
    )


async def save_document(
    db: AsyncSession, user_id: str, session_id: str, data: CanvasPut
) -> tuple[CanvasDocument, bool]:
    """Create or update; returns (document, created). 409 when `version` is not the current one."""
    doc = await find_document(db, user_id, session_id)
    if doc is None:
        if data.version not in (None, 0):
            raise PortalError(
                409, "Canvas document no longer exists", currentVersion=0, document=None
            )
        doc = CanvasDocument(
            user_id=user_id,
            session_id=session_id,
            title=data.title,
            content=data.content,
            version=1,
        )
        try:
            async with db.begin_nested():
                db.add(doc)
            return doc, True
        except IntegrityError:
            # Another request created it just now: this write must not silently overwrite it.
            doc = await get_document(db, user_id, session_id)
            if data.version is not None:
                raise _conflict(doc) from None
    stmt = (
        update(CanvasDocument)
        .where(CanvasDocument.id == doc.id)
        .values(
            title=data.title,
            content=data.content,
            version=CanvasDocument.version + 1,
            updated_at=utcnow(),
        )
    )
    if data.version is not None:
        stmt = stmt.where(CanvasDocument.version == data.version)
    result = await db.execute(stmt.execution_options(synchronize_session=False))
    await db.refresh(doc)
    if getattr(result, "rowcount", 1) == 0:
        raise _conflict(doc)
    return doc, False


async def delete_document(db: AsyncSession, user_id: str, session_id: str) -> None:
    doc = await get_document(db, user_id, session_id)
    await db.delete(doc)
    await db.flush()


async def list_versions(
    db: AsyncSession, document_id: str, limit: int | None = None
) -> list[CanvasVersion]:
    stmt = (
        select(CanvasVersion)
        .where(CanvasVersion.document_id == document_id)
        .order_by(CanvasVersion.seq.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await db.scalars(stmt))


async def snapshot(db: AsyncSession, doc: CanvasDocument) -> CanvasVersion:
    """Save the document as a version; past MAX_SNAPSHOTS the oldest ones go."""
    # One atomic increment: concurrent snapshots of a document get distinct, ordered numbers.
    seq = await db.scalar(
        update(CanvasDocument)
        .where(CanvasDocument.id == doc.id)
        .values(snapshot_seq=CanvasDocument.snapshot_seq + 1)
        .returning(CanvasDocument.snapshot_seq)
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    version = CanvasVersion(
        document_id=doc.id, seq=seq, version=doc.version, title=doc.title, content=doc.content
    )
    db.add(version)
    await db.flush()
    await db.execute(
        delete(CanvasVersion).where(
            CanvasVersion.document_id == doc.id, CanvasVersion.seq <= seq - MAX_SNAPSHOTS
        )
    )
    return version

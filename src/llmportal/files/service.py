"""Uploaded files: rows that point at bytes in storage. Owner-only; other ids answer 404."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.errors import PortalError
from llmportal.files.models import StoredFile
from llmportal.uploads import ReceivedFile


def not_found() -> PortalError:
    return PortalError(404, "File not found")


async def create(db: AsyncSession, user_id: str, received: ReceivedFile) -> StoredFile:
    row = StoredFile(
        user_id=user_id,
        name=received.filename,
        mime_type=received.mime_type,
        size=received.size,
        storage_name=received.stored.name,
        sha256=received.stored.sha256,
    )
    db.add(row)
    await db.flush()
    return row


async def list_page(
    db: AsyncSession, user_id: str, *, page: int, limit: int
) -> tuple[list[StoredFile], int]:
    """One page of the user's files, newest first, and how many they have in all."""
    total = await db.scalar(
        select(func.count()).select_from(StoredFile).where(StoredFile.user_id == user_id)
    )
    rows = await db.scalars(
        select(StoredFile)
        .where(StoredFile.user_id == user_id)
        .order_by(StoredFile.created_at.desc(), StoredFile.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(rows.all()), int(total or 0)


async def get_owned(db: AsyncSession, user_id: str, file_id: str) -> StoredFile:
    row = await db.scalar(
        select(StoredFile).where(StoredFile.id == file_id, StoredFile.user_id == user_id)
    )
    if row is None:
        raise not_found()
    return row


async def delete_owned(db: AsyncSession, user_id: str, file_id: str) -> StoredFile:
    """Delete the row; the caller removes the stored bytes once the transaction commits."""
    row = await get_owned(db, user_id, file_id)
    await db.delete(row)
    await db.flush()
    return row

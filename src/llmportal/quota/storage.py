"""The plan's storage allowance: one allowance for everything a user keeps on the portal.

Library items (uploaded files and the text of notes), files (/api/files) and chat attachments
all count against `storage_bytes` of the user's plan. Every upload path checks the allowance
before it streams (and streams at most what is left), then reserves the real size under a lock
on the user's row once the bytes are in; past the allowance the upload is refused with 413 and
nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.chat.models import ChatAttachment
from llmportal.config import Settings
from llmportal.errors import PortalError
from llmportal.files.models import StoredFile
from llmportal.library.models import ContentItem
from llmportal.quota.plans import plan_for
from llmportal.users.models import User

_SIZED = (ContentItem, StoredFile, ChatAttachment)


def storage_limit(settings: Settings, user: User) -> int:
    return plan_for(settings, user.plan_tier).storage_bytes


def storage_full(limit: int) -> PortalError:
    return PortalError(413, f"Storage limit reached ({limit} bytes for your plan)")


async def storage_used(db: AsyncSession, user_id: str) -> int:
    """Bytes the user keeps: library items, files and chat attachments together."""
    total = 0
    for model in _SIZED:
        used = await db.scalar(
            select(func.coalesce(func.sum(model.size), 0)).where(model.user_id == user_id)
        )
        total += int(used or 0)
    return total


async def reserve(db: AsyncSession, settings: Settings, user: User, size: int) -> None:
    """Refuse `size` more bytes past the allowance (413). Call in the transaction that stores
    them: a no-op write on the user's row takes its lock (a row lock on PostgreSQL, the write lock
    on SQLite), so concurrent writes of one user are checked one after another."""
    if size <= 0:
        return
    await db.execute(
        update(User)
        .where(User.id == user.id)
        .values(updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    limit = storage_limit(settings, user)
    if await storage_used(db, user.id) + size > limit:
        raise storage_full(limit)


@dataclass(frozen=True, slots=True)
class UploadAllowance:
    """What is left of the allowance as an upload starts."""

    limit: int
    remaining: int

    def max_bytes(self, per_file: int) -> int:
        """The most one file of this upload may stream: the upload limit or what is left."""
        return max(min(per_file, self.remaining), 0)

    @contextmanager
    def streaming(self, per_file: int) -> Iterator[None]:
        """Around the streaming: a 413 caused by the allowance (not by the per-file upload
        limit) says that the storage is full."""
        try:
            yield
        except PortalError as exc:
            if exc.status == 413 and self.remaining < per_file:
                raise storage_full(self.limit) from None
            raise


async def before_upload(db: AsyncSession, settings: Settings, user: User) -> UploadAllowance:
    """The allowance left for an upload; 413 at once when none is."""
    limit = storage_limit(settings, user)
    remaining = limit - await storage_used(db, user.id)
    if remaining <= 0:
        raise storage_full(limit)
    return UploadAllowance(limit=limit, remaining=remaining)

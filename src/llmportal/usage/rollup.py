"""Daily usage rollups, maintained by the batched usage writer (built by the analytics work)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.usage.models import UsageRecord


async def add_to_rollup(db: AsyncSession, records: Sequence[UsageRecord]) -> None:
    """Fold a batch of new usage records into the daily rollup table (same transaction)."""
    return None

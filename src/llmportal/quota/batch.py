"""Settlements on their way to Redis together: the quota's counters and the budgets' tallies
each keep a batch of changes by key, sent in one round trip a moment after the first one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class SettlementBatch(Generic[V]):
    """`pending` maps a key to its change not yet sent; whoever adds to it calls `schedule`.
    `send` gets the whole batch (and is told nothing of keys added while it runs)."""

    def __init__(self, send: Callable[[dict[str, V]], Awaitable[None]], delay: Callable[[], float]):
        self.pending: dict[str, V] = {}
        self._send = send
        self._delay = delay
        self._task: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(self._delay())
        finally:
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, {}
            await self._send(pending)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        await self.flush()


def by_hash_tag(keys: list[str]) -> list[list[str]]:
    """Keys grouped by their `{tag}` prefix: one script per group keeps to one cluster slot."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.partition("}")[0], []).append(key)
    return list(groups.values())

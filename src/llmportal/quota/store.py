"""Token counters per period: in the process, or in Redis shared by every instance.

A counter is created on first touch in its period from what the database already recorded, so
a restart (or a Redis flush) never forgets the period's usage. Reserving checks every counter
and adds to all of them in one atomic step, so concurrent requests cannot overshoot a limit by
more than what is already in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from llmportal.quota.batch import SettlementBatch, by_hash_tag
from llmportal.ratelimit import REDIS_DOWN_ERRORS, RedisOutage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Counter:
    key: str  # unique per owner and period, e.g. "{user}:user:m:2026-11"
    limit: int
    period_start: datetime
    resets_at: datetime
    owner: str  # "user", "org" or "key"
    owner_id: str
    message: str  # the 429 message when this counter refuses


Loader = Callable[[Counter], Awaitable[int]]


class CounterStore(Protocol):
    async def try_reserve(
        self, counters: Sequence[Counter], amount: int, load: Loader
    ) -> Counter | None:
        """Add `amount` to every counter if all stay within their limits; else the refusing one."""
        ...

    async def adjust(self, counters: Sequence[Counter], delta: int) -> None: ...

    async def used(self, counter: Counter, load: Loader) -> int: ...

    async def close(self) -> None:
        """Save what is not saved yet (batched settlements)."""
        ...


def _refuses(used: int, amount: int, limit: int) -> bool:
    return used >= limit or used + amount > limit


class MemoryCounterStore:
    """For one process. Check-and-add runs without awaiting, so it is atomic in the event loop."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._init_lock = asyncio.Lock()

    async def _ensure(self, counters: Sequence[Counter], load: Loader) -> None:
        if all(c.key in self._values for c in counters):
            return
        async with self._init_lock:
            for c in counters:
                if c.key not in self._values:
                    self._values[c.key] = await load(c)
                    self._expires[c.key] = c.resets_at.timestamp()
            self._purge()

    def _purge(self) -> None:
        now = time.time()
        for key in [k for k, exp in self._expires.items() if exp < now - 86400]:
            self._values.pop(key, None)
            self._expires.pop(key, None)

    async def try_reserve(
        self, counters: Sequence[Counter], amount: int, load: Loader
    ) -> Counter | None:
        await self._ensure(counters, load)
        for c in counters:
            if _refuses(self._values.get(c.key, 0), amount, c.limit):
                return c
        for c in counters:
            self._values[c.key] = self._values.get(c.key, 0) + amount
        return None

    async def adjust(self, counters: Sequence[Counter], delta: int) -> None:
        for c in counters:
            if c.key in self._values:
                self._values[c.key] += delta

    async def used(self, counter: Counter, load: Loader) -> int:
        await self._ensure([counter], load)
        return self._values.get(counter.key, 0)

    def has_counters(self) -> bool:
        return bool(self._values)

    async def close(self) -> None:
        return None

    def keys(self) -> list[str]:
        return list(self._values)


# Returns {1, 0} when added, {0, i} when counter i refuses, {-1, i} when counter i is missing.
_RESERVE = """
local amount = tonumber(ARGV[1])
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if not v then return {-1, i} end
  local used = tonumber(v)
  local limit = tonumber(ARGV[i + 1])
  if used >= limit or used + amount > limit then return {0, i} end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], amount)
end
return {1, 0}
"""

# Only existing counters: an expired period must not come back as a key without a TTL.
_ADJUST = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], ARGV[i])
  end
end
return 0
"""

# Settlements wait this long to go to Redis together: one round trip for every request settled
# meanwhile instead of one each. Until then a counter holds the larger reservation, never less.
SETTLE_BATCH_S = 0.02

LostAdjustments = Callable[[list[str], BaseException], None]

# A counter outlives its period by a day, so late settlements still find it.
EXPIRY_GRACE_S = 86400


class RedisCounterStore:
    """The same counters in Redis; keys of one user share a hash tag (one cluster slot).

    Settlements are batched (SETTLE_BATCH_S). A reservation refused while some are pending, and
    every read, sends them first, so a limit refuses only what the settled counters refuse."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._adjust = redis.register_script(_ADJUST)
        # Counter.key -> delta not yet in Redis
        self._batch: SettlementBatch[int] = SettlementBatch(self._send, lambda: SETTLE_BATCH_S)
        # Told of adjustments Redis did not take (else they are logged).
        self.on_lost: LostAdjustments | None = None

    def _key(self, c: Counter) -> str:
        return self._prefix + c.key

    async def _init(self, c: Counter, load: Loader) -> None:
        value = await load(c)
        expire_at = int(c.resets_at.timestamp()) + EXPIRY_GRACE_S
        await self._redis.set(self._key(c), value, nx=True, exat=expire_at)

    async def try_reserve(
        self, counters: Sequence[Counter], amount: int, load: Loader
    ) -> Counter | None:
        keys = [self._key(c) for c in counters]
        args = [amount, *(c.limit for c in counters)]
        flushed = False
        for _ in range(len(counters) + 2):
            status, index = await self._reserve(keys=keys, args=args)
            if int(status) == 1:
                return None
            if int(status) == 0:
                # Once: under load other requests settle while this one flushes.
                if flushed or not self._batch.pending:
                    return counters[int(index) - 1]
                await self.flush()
                flushed = True
                continue
            await self._init(counters[int(index) - 1], load)
        raise RuntimeError("quota counters could not be initialised")

    async def adjust(self, counters: Sequence[Counter], delta: int) -> None:
        if not counters or not delta:
            return
        pending = self._batch.pending
        for c in counters:
            pending[c.key] = pending.get(c.key, 0) + delta
        self._batch.schedule()

    async def flush(self) -> None:
        """Send the pending settlements now."""
        await self._batch.flush()

    async def _send(self, pending: dict[str, int]) -> None:
        """One script per user (hash tag), one round trip."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys in by_hash_tag(list(pending)):
                    await self._adjust(
                        keys=[self._prefix + k for k in keys],
                        args=[pending[k] for k in keys],
                        client=pipe,
                    )
                await pipe.execute()
        except REDIS_DOWN_ERRORS as exc:
            if self.on_lost is None:
                log.warning("quota settlements not saved in Redis: %s", exc)
            else:
                self.on_lost(list(pending), exc)

    async def close(self) -> None:
        await self._batch.close()

    async def forget(self, keys: Sequence[str]) -> None:
        """Drop counters (by Counter.key): the next touch reloads them from the database."""
        if keys:
            await self._redis.delete(*(self._prefix + k for k in keys))
        else:
            await self._redis.ping()

    async def used(self, counter: Counter, load: Loader) -> int:
        await self.flush()
        value = await self._redis.get(self._key(counter))
        if value is None:
            await self._init(counter, load)
            value = await self._redis.get(self._key(counter))
        return int(value or 0)


class FallbackCounterStore:
    """Redis while it answers; while it does not, counters in the process (loaded from the
    database like any new counter), with the portal's one Redis outage warning. When Redis is
    back, the counters touched during the outage are dropped there, so they reload from what the
    database recorded instead of missing the outage's usage."""

    def __init__(self, primary: RedisCounterStore, outage: RedisOutage) -> None:
        self.primary = primary
        self.fallback = MemoryCounterStore()
        self.outage = outage
        self._unsettled: set[str] = set()  # counters whose batched settlement Redis missed
        primary.on_lost = self._settlements_lost

    def _settlements_lost(self, keys: list[str], exc: BaseException) -> None:
        self.outage.failed("quota counters", exc)
        self._unsettled.update(keys)

    async def _redis_usable(self) -> bool:
        if not self.outage.should_try():
            return False
        if self.outage.is_down or self.fallback.has_counters() or self._unsettled:
            # Coming back: forget in Redis what was counted here meanwhile (or not settled
            # there), then use Redis.
            try:
                await self.primary.forget([*self.fallback.keys(), *self._unsettled])
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("quota counters", exc)
                return False
            self.outage.recovered()
            self.fallback = MemoryCounterStore()
            self._unsettled.clear()
        return True

    async def close(self) -> None:
        await self.primary.close()

    async def try_reserve(
        self, counters: Sequence[Counter], amount: int, load: Loader
    ) -> Counter | None:
        if await self._redis_usable():
            try:
                return await self.primary.try_reserve(counters, amount, load)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("quota counters", exc)
        return await self.fallback.try_reserve(counters, amount, load)

    async def adjust(self, counters: Sequence[Counter], delta: int) -> None:
        if await self._redis_usable():
            try:
                await self.primary.adjust(counters, delta)
                return
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("quota counters", exc)
        await self.fallback.adjust(counters, delta)

    async def used(self, counter: Counter, load: Loader) -> int:
        if await self._redis_usable():
            try:
                return await self.primary.used(counter, load)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("quota counters", exc)
        return await self.fallback.used(counter, load)

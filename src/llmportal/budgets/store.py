"""Budget tallies: what each budget has spent in its period and what requests in flight hold.

The quota's counter store, in micro-dollars and with two numbers per tally: `spent` (settled
cost) and `held` (worst-case reservations of requests still running), so the spend a user sees
and the alerts it triggers are real cost, not reservations. A tally is created on first touch
from what the database recorded for its period. Reserving checks every tally of a request and
holds on all of them in one atomic step (one Lua script with Redis), lowering the reply's
output tokens to what the tightest budget has left, so concurrent requests on any number of
instances never spend past a budget by more than one request's misestimate.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from llmportal.budgets.scopes import Scope
from llmportal.quota.batch import SettlementBatch, by_hash_tag
from llmportal.ratelimit import REDIS_DOWN_ERRORS, RedisOutage

log = logging.getLogger("llmportal.budgets")


@dataclass(frozen=True, slots=True)
class Tally:
    key: str  # unique per scope, budget setting and period
    scope: Scope
    start: datetime | None  # None: the budget's lifetime
    end: datetime | None

    @property
    def limit(self) -> int:
        return self.scope.limit


@dataclass(frozen=True, slots=True)
class Reserved:
    refused: int | None  # the index of the tally that refused, None when held
    amount: int = 0  # micro-dollars held on every tally
    units: int = 0  # output tokens granted
    spent: int = 0  # the refusing tally's settled spend
    held: int = 0  # and what requests in flight hold on it


Loader = Callable[[Tally], Awaitable[int]]
# Told each settled tally's spend after the settlement (None: the tally had expired).
SpentHook = Callable[[Sequence[Tally], Sequence[int | None]], None]


def no_hook(tallies: Sequence[Tally], spends: Sequence[int | None]) -> None:
    pass


class TallyStore(Protocol):
    on_spent: SpentHook

    async def reserve(
        self, tallies: Sequence[Tally], base: float, unit: float, units: int, load: Loader
    ) -> Reserved:
        """Hold `base + unit * n` on every tally, n <= units the most output tokens all of them
        have room for (at least one when unit > 0); else say which tally refuses."""
        ...

    async def settle(self, tallies: Sequence[Tally], held: int, cost: int) -> None:
        """Give back `held`, add `cost`; on_spent is told each tally's spend after (a store
        may batch settlements, so that can come a moment later)."""
        ...

    async def spent(self, tally: Tally, load: Loader) -> int: ...


def fit(left: float, base: float, unit: float, units: int) -> int | None:
    """The output units that fit in `left`, or None when the request does not fit at all."""
    if left <= 0:
        return None
    if unit <= 0 or units <= 0:
        return units if base <= left else None
    n = math.floor((left - base) / unit)
    return None if n < 1 else min(units, n)


def amount_for(base: float, unit: float, units: int) -> int:
    return math.ceil(base + unit * units)


class MemoryTallyStore:
    """For one process: check-and-hold runs without awaiting, so it is atomic in the loop."""

    def __init__(self) -> None:
        self.on_spent: SpentHook = no_hook
        self._values: dict[str, list[int]] = {}  # key -> [spent, held]
        self._expires: dict[str, float] = {}
        self._init_lock = asyncio.Lock()

    async def _ensure(self, tallies: Sequence[Tally], load: Loader) -> None:
        if all(t.key in self._values for t in tallies):
            return
        async with self._init_lock:
            for t in tallies:
                if t.key not in self._values:
                    self._values[t.key] = [await load(t), 0]
                    self._expires[t.key] = expiry(t)
            now = time.time()
            for key in [k for k, exp in self._expires.items() if exp < now]:
                self._values.pop(key, None)
                self._expires.pop(key, None)

    async def reserve(
        self, tallies: Sequence[Tally], base: float, unit: float, units: int, load: Loader
    ) -> Reserved:
        await self._ensure(tallies, load)
        for i, t in enumerate(tallies):
            spent, held = self._values[t.key]
            n = fit(t.limit - spent - held, base, unit, units)
            if n is None:
                return Reserved(i, spent=spent, held=held)
            units = n
        amount = amount_for(base, unit, units)
        for t in tallies:
            self._values[t.key][1] += amount
        return Reserved(None, amount, units)

    async def settle(self, tallies: Sequence[Tally], held: int, cost: int) -> None:
        out: list[int | None] = []
        for t in tallies:
            value = self._values.get(t.key)
            if value is None:
                out.append(None)
                continue
            value[0] += cost
            value[1] -= held
            out.append(value[0])
        self.on_spent(tallies, out)

    async def spent(self, tally: Tally, load: Loader) -> int:
        await self._ensure([tally], load)
        return self._values[tally.key][0]

    def has_tallies(self) -> bool:
        return bool(self._values)

    def keys(self) -> list[str]:
        return list(self._values)


# A tally outlives its period by a day, so late settlements still find it. A lifetime tally is
# reloaded from the database now and then: no key without an end stays in Redis for ever.
EXPIRY_GRACE_S = 86400
LIFETIME_TTL_S = 30 * 86400


def expiry(t: Tally) -> float:
    now = time.time()
    if t.end is None:
        return now + LIFETIME_TTL_S
    return max(t.end.timestamp(), now) + EXPIRY_GRACE_S


# KEYS: the tallies (hashes: s = spent, h = held). ARGV: base, unit, units, each tally's limit.
# {1, units, amount}: held on all; {0, i, spent, held}: tally i refuses; {-1, i}: i not loaded.
_RESERVE = """
local base = tonumber(ARGV[1])
local unit = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 's', 'h')
  if not v[1] then return {-1, i} end
  local spent = tonumber(v[1])
  local held = tonumber(v[2] or '0')
  local left = tonumber(ARGV[i + 3]) - spent - held
  local ok = left > 0
  if ok then
    if unit > 0 and units > 0 then
      local n = math.floor((left - base) / unit)
      if n < 1 then ok = false elseif n < units then units = n end
    elseif base > left then
      ok = false
    end
  end
  if not ok then return {0, i, spent, held} end
end
local amount = math.ceil(base + unit * units)
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'h', string.format('%.0f', amount))
end
return {1, units, amount}
"""

# ARGV: per tally, the change of held, then of spent. Only existing tallies: an expired one
# must not come back without a TTL. Each tally's spend after, -1 for an expired one.
_SETTLE = """
local out = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'h', ARGV[2 * i - 1])
    out[i] = redis.call('HINCRBY', KEYS[i], 's', ARGV[2 * i])
  else
    out[i] = -1
  end
end
return out
"""

# Settlements wait this long to go to Redis together, as the quota's do: one round trip for
# every request settled meanwhile. Until then a tally holds the larger reservation, never less.
SETTLE_BATCH_S = 0.02

LostSettlements = Callable[[list[str], BaseException], None]


@dataclass(slots=True)
class Change:
    """A tally's settlements not yet in Redis."""

    tally: Tally
    held: int = 0
    spent: int = 0


_INIT = """
if redis.call('HSETNX', KEYS[1], 's', ARGV[1]) == 1 then
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
end
return 0
"""


class RedisTallyStore:
    """Tallies in Redis (hashes), settlements batched (SETTLE_BATCH_S). A reservation refused
    while settlements are pending, and every read, sends them first, so a budget refuses only
    what its settled tallies refuse."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.on_spent: SpentHook = no_hook
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._init_script = redis.register_script(_INIT)
        self._batch: SettlementBatch[Change] = SettlementBatch(self._send, lambda: SETTLE_BATCH_S)
        # Told of settlements Redis did not take (else they are logged).
        self.on_lost: LostSettlements | None = None

    def _key(self, t: Tally) -> str:
        return self._prefix + t.key

    async def _init(self, t: Tally, load: Loader) -> None:
        await self._init_script(keys=[self._key(t)], args=[await load(t), int(expiry(t))])

    async def reserve(
        self, tallies: Sequence[Tally], base: float, unit: float, units: int, load: Loader
    ) -> Reserved:
        keys = [self._key(t) for t in tallies]
        args: list[str | int] = [repr(float(base)), repr(float(unit)), units]
        args += [t.limit for t in tallies]
        flushed = False
        for _ in range(len(tallies) + 2):
            reply = [int(x) for x in await self._reserve(keys=keys, args=args)]
            if reply[0] == 1:
                return Reserved(None, reply[2], reply[1])
            if reply[0] == 0:
                # Once: under load other requests settle while this one flushes.
                if flushed or not self._batch.pending:
                    return Reserved(reply[1] - 1, spent=reply[2], held=reply[3])
                await self.flush()
                flushed = True
                continue
            await self._init(tallies[reply[1] - 1], load)
        raise RuntimeError("budget tallies could not be initialised")

    async def settle(self, tallies: Sequence[Tally], held: int, cost: int) -> None:
        if not tallies:
            return
        pending = self._batch.pending
        for t in tallies:
            change = pending.get(t.key)
            if change is None:
                change = pending[t.key] = Change(t)
            change.held -= held
            change.spent += cost
        self._batch.schedule()

    async def flush(self) -> None:
        """Send the pending settlements now."""
        await self._batch.flush()

    async def _send(self, pending: dict[str, Change]) -> None:
        """One script per hash tag, one round trip; then on_spent with each tally's spend."""
        groups = by_hash_tag(list(pending))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys in groups:
                    args = [n for k in keys for n in (pending[k].held, pending[k].spent)]
                    await self._settle(
                        keys=[self._prefix + k for k in keys], args=args, client=pipe
                    )
                replies = await pipe.execute()
        except REDIS_DOWN_ERRORS as exc:
            if self.on_lost is None:
                log.warning("budget settlements not saved in Redis: %s", exc)
            else:
                self.on_lost(list(pending), exc)
            return
        for keys, reply in zip(groups, replies, strict=True):
            spends = [None if int(v) < 0 else int(v) for v in reply]
            self.on_spent([pending[k].tally for k in keys], spends)

    async def close(self) -> None:
        await self._batch.close()

    async def spent(self, tally: Tally, load: Loader) -> int:
        await self.flush()
        value = await self._redis.hget(self._key(tally), "s")
        if value is None:
            await self._init(tally, load)
            value = await self._redis.hget(self._key(tally), "s")
        return int(value or 0)

    async def forget(self, keys: Sequence[str]) -> None:
        """Drop tallies (by Tally.key): the next touch reloads them from the database."""
        if keys:
            await self._redis.delete(*(self._prefix + k for k in keys))
        else:
            await self._redis.ping()


class FallbackTallyStore:
    """Redis while it answers; during an outage, tallies in the process (loaded from the
    database), as the quota's counters do. When Redis is back the tallies touched meanwhile are
    dropped there, so they reload with the outage's spend instead of missing it."""

    def __init__(self, primary: RedisTallyStore, outage: RedisOutage) -> None:
        self.primary = primary
        self.fallback = MemoryTallyStore()
        self.outage = outage
        self._unsettled: set[str] = set()  # tallies whose batched settlement Redis missed
        primary.on_lost = self._settlements_lost

    @property
    def on_spent(self) -> SpentHook:
        return self.primary.on_spent

    @on_spent.setter
    def on_spent(self, hook: SpentHook) -> None:
        self.primary.on_spent = hook
        self.fallback.on_spent = hook

    def _settlements_lost(self, keys: list[str], exc: BaseException) -> None:
        self.outage.failed("budget tallies", exc)
        self._unsettled.update(keys)

    async def _redis_usable(self) -> bool:
        if not self.outage.should_try():
            return False
        if self.outage.is_down or self.fallback.has_tallies() or self._unsettled:
            try:
                await self.primary.forget([*self.fallback.keys(), *self._unsettled])
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("budget tallies", exc)
                return False
            self.outage.recovered()
            hook = self.fallback.on_spent
            self.fallback = MemoryTallyStore()
            self.fallback.on_spent = hook
            self._unsettled.clear()
        return True

    async def close(self) -> None:
        await self.primary.close()

    async def reserve(
        self, tallies: Sequence[Tally], base: float, unit: float, units: int, load: Loader
    ) -> Reserved:
        if await self._redis_usable():
            try:
                return await self.primary.reserve(tallies, base, unit, units, load)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("budget tallies", exc)
        return await self.fallback.reserve(tallies, base, unit, units, load)

    async def settle(self, tallies: Sequence[Tally], held: int, cost: int) -> None:
        if await self._redis_usable():
            await self.primary.settle(tallies, held, cost)
            return
        await self.fallback.settle(tallies, held, cost)

    async def spent(self, tally: Tally, load: Loader) -> int:
        if await self._redis_usable():
            try:
                return await self.primary.spent(tally, load)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("budget tallies", exc)
        return await self.fallback.spent(tally, load)

"""Sliding-window limits and counters: in the process by default, Redis when configured."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from llmportal.metrics.instruments import limit_rejected

log = logging.getLogger("llmportal.redis")

# While Redis is down, try it again this often (one failed attempt costs a connect timeout).
RETRY_REDIS_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until a slot frees, 0 when allowed

    def headers(self) -> dict[str, str]:
        h = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after)
        return h


class Limiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: float) -> Decision: ...

    async def reset(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """Exact sliding window per key, for one process."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, key: str, limit: int, window_s: float) -> Decision:
        now = time.monotonic()
        async with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - window_s:
                q.popleft()
            if len(q) >= limit:
                retry = max(1, math.ceil(q[0] + window_s - now))
                limit_rejected(key)
                return Decision(False, limit, 0, retry)
            q.append(now)
            if len(self._hits) > 100_000:
                self._evict(now, window_s)
            return Decision(True, limit, limit - len(q), 0)

    def _evict(self, now: float, window_s: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - window_s]:
            del self._hits[k]

    async def reset(self, key: str) -> None:
        async with self._lock:
            self._hits.pop(key, None)

    async def close(self) -> None:
        return None


# Atomic sliding window on a sorted set: drop old entries, count, add when under the limit.
_SLIDING_WINDOW = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local member = ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, count, tostring(oldest[2])}
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return {1, count + 1, '0'}
"""


class RedisLimiter:
    """The same sliding window, shared by every instance through one Redis."""

    def __init__(self, redis: Redis, prefix: str = "llmportal:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._seq = 0

    async def hit(self, key: str, limit: int, window_s: float) -> Decision:
        now = time.time()
        self._seq += 1
        member = f"{now:.6f}:{id(self)}:{self._seq}"
        allowed, count, oldest = await self._script(
            keys=[self._prefix + key], args=[now, window_s, limit, member]
        )
        if int(allowed):
            return Decision(True, limit, max(0, limit - int(count)), 0)
        retry = max(1, math.ceil(float(oldest) + window_s - now))
        limit_rejected(key)
        return Decision(False, limit, 0, retry)

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        return None


# Errors that mean "Redis is unreachable or broken", not "the request is over its limit".
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


class RedisOutage:
    """When Redis last failed, and whether to try it again yet: shared by the limiter and the
    quota counters of one portal, so one warning covers both and both come back together."""

    def __init__(self, retry_after_s: float = RETRY_REDIS_AFTER_S) -> None:
        self.retry_after_s = retry_after_s
        self.down_since: float | None = None
        self._retry_at = 0.0

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def should_try(self) -> bool:
        return self.down_since is None or time.monotonic() >= self._retry_at

    def failed(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "Redis is unreachable (%s: %s); %s fall back to per-instance counting "
                "until it is back",
                type(exc).__name__,
                exc,
                what,
            )
        self._retry_at = now + self.retry_after_s

    def recovered(self) -> bool:
        """Mark Redis as up; True when it had been down (the caller resyncs what it must)."""
        if self.down_since is None:
            return False
        log.warning(
            "Redis is reachable again after %.1fs; limits are shared again",
            time.monotonic() - self.down_since,
        )
        self.down_since = None
        return True


class FallbackLimiter:
    """Redis while it answers; the in-process window (with a warning in the log) while it does
    not, trying Redis again every `outage.retry_after_s`. Never an error for the caller."""

    def __init__(self, primary: Limiter, outage: RedisOutage) -> None:
        self.primary = primary
        self.fallback = MemoryLimiter()
        self.outage = outage

    async def hit(self, key: str, limit: int, window_s: float) -> Decision:
        if self.outage.should_try():
            try:
                decision = await self.primary.hit(key, limit, window_s)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("rate limits", exc)
            else:
                if self.outage.recovered():
                    self.fallback = MemoryLimiter()
                return decision
        return await self.fallback.hit(key, limit, window_s)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        if self.outage.should_try():
            try:
                await self.primary.reset(key)
            except REDIS_DOWN_ERRORS as exc:
                self.outage.failed("rate limits", exc)

    async def close(self) -> None:
        await self.primary.close()

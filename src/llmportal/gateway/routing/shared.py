"""What every instance must agree on about deployments: which are cooling down after a failure
and how many tokens each has used this minute. In the process by default; through Redis when
configured (while Redis is down, in the process, as the rate limits do)."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

from llmportal.ratelimit import REDIS_DOWN_ERRORS, RedisOutage


def minute() -> int:
    return int(time.time() // 60)


class RoutingState(Protocol):
    async def read(
        self, cooldown_keys: list[str], tpm_keys: list[str]
    ) -> tuple[set[str], list[int]]:
        """The keys cooling down now, and the tokens used this minute under each tpm key."""
        ...

    async def cool(self, key: str, seconds: float) -> None: ...

    async def add_tokens(self, key: str, tokens: int) -> None: ...

    async def cooldowns(self, keys: list[str]) -> list[float]:
        """Seconds left of each key's cooldown (0: not cooling)."""
        ...


class MemoryRoutingState:
    def __init__(self) -> None:
        self._cool_until: dict[str, float] = {}
        self._tokens: dict[str, tuple[int, int]] = {}  # key -> (minute, tokens)

    async def read(
        self, cooldown_keys: list[str], tpm_keys: list[str]
    ) -> tuple[set[str], list[int]]:
        now = time.time()
        cooling = {k for k in cooldown_keys if self._cool_until.get(k, 0.0) > now}
        this = minute()
        used = []
        for k in tpm_keys:
            at, n = self._tokens.get(k, (this, 0))
            used.append(n if at == this else 0)
        return cooling, used

    async def cool(self, key: str, seconds: float) -> None:
        self._cool_until[key] = time.time() + seconds

    async def add_tokens(self, key: str, tokens: int) -> None:
        this = minute()
        at, n = self._tokens.get(key, (this, 0))
        self._tokens[key] = (this, (n if at == this else 0) + tokens)

    async def cooldowns(self, keys: list[str]) -> list[float]:
        now = time.time()
        return [max(0.0, self._cool_until.get(k, 0.0) - now) for k in keys]


class RedisRoutingState:
    """Cooldowns are keys that expire; token counts are one counter per deployment and minute."""

    def __init__(self, redis: Redis, prefix: str, outage: RedisOutage) -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = outage
        self._fallback = MemoryRoutingState()

    def _tpm(self, key: str) -> str:
        return f"{self._prefix}tpm:{key}:{minute()}"

    async def read(
        self, cooldown_keys: list[str], tpm_keys: list[str]
    ) -> tuple[set[str], list[int]]:
        if self._outage.should_try():
            names = [self._prefix + "cd:" + k for k in cooldown_keys]
            names += [self._tpm(k) for k in tpm_keys]
            try:
                values = await self._redis.mget(names)
            except REDIS_DOWN_ERRORS as exc:
                self._outage.failed("deployment routing", exc)
            else:
                self._outage.recovered()
                n = len(cooldown_keys)
                cooling = {k for k, v in zip(cooldown_keys, values[:n], strict=True) if v}
                return cooling, [int(v or 0) for v in values[n:]]
        return await self._fallback.read(cooldown_keys, tpm_keys)

    async def cool(self, key: str, seconds: float) -> None:
        await self._fallback.cool(key, seconds)
        if self._outage.should_try():
            try:
                await self._redis.set(
                    self._prefix + "cd:" + key, b"1", px=max(1, int(seconds * 1000))
                )
            except REDIS_DOWN_ERRORS as exc:
                self._outage.failed("deployment routing", exc)

    async def add_tokens(self, key: str, tokens: int) -> None:
        await self._fallback.add_tokens(key, tokens)
        if self._outage.should_try():
            name = self._tpm(key)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.incrby(name, tokens)
                    pipe.expire(name, 120)
                    await pipe.execute()
            except REDIS_DOWN_ERRORS as exc:
                self._outage.failed("deployment routing", exc)

    async def cooldowns(self, keys: list[str]) -> list[float]:
        if self._outage.should_try():
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for k in keys:
                        pipe.pttl(self._prefix + "cd:" + k)
                    left = await pipe.execute()
            except REDIS_DOWN_ERRORS as exc:
                self._outage.failed("deployment routing", exc)
            else:
                return [max(0, int(ms)) / 1000 for ms in left]
        return await self._fallback.cooldowns(keys)

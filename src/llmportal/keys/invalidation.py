"""With Redis, every instance's key cache forgets a key or user that any instance changed.

A commit that changed an api_keys or users row publishes on a Redis channel before its request
is answered; every process listening empties its cache when the message arrives. While the
listener is not subscribed (Redis away, reconnecting) the cache is not trusted: every request
looks its key up in the database, as it would with no cache at all. A change that was committed
while the channel was down reaches the others anyway within the cache's TTL (1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from llmportal.keys import cache as key_cache
from llmportal.keys.cache import KeyCache

log = logging.getLogger("llmportal.keys.invalidation")
_MAX_BACKOFF_S = 10.0


class KeyCacheInvalidation:
    def __init__(self, redis: Redis, url: str, prefix: str, cache: KeyCache) -> None:
        self.redis = redis
        self.url = url
        self.channel = prefix + "auth.changed"
        self.cache = cache
        self.heard = 0
        cache.trusted = False
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()

    async def start(self) -> None:
        key_cache.broadcasters.append(self.publish)
        self._task = asyncio.create_task(self._listen(), name="key-cache-invalidation")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), timeout=2.0)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            key_cache.broadcasters.remove(self.publish)
        self.cache.trusted = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self) -> None:
        try:
            await self.redis.publish(self.channel, b"1")
        except (RedisError, OSError) as exc:
            log.warning("key change not broadcast (others see it within 1 s): %s", exc)

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            # Its own connection without a read timeout: a quiet channel is not an error.
            redis = Redis.from_url(self.url, socket_connect_timeout=1.0, health_check_interval=5)
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Whatever changed before this subscription is older than the cache's
                    # entries can be trusted for: start empty.
                    key_cache.invalidate_all()
                    self.cache.trusted = True
                    self._first_attempt.set()
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            key_cache.invalidate_all()
                            self.heard += 1
            except (RedisError, OSError) as exc:
                log.warning("key cache invalidation lost Redis, retrying: %s", exc)
            finally:
                self.cache.trusted = False
                self._first_attempt.set()
                await redis.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

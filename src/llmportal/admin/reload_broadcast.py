"""With Redis, a models reload made on one process reaches every instance and worker.

The process that answered `POST /api/admin/models/reload` reloads first (so a bad file is
refused before anyone else reads it), then publishes on a Redis channel; every other process
re-reads its own configuration file when the message arrives. A listener that loses Redis
reconnects with backoff; a reload published while it was away is missed, so the docs say to
reload again (or restart) after a Redis outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

from llmportal.config import ConfigError, load_settings
from llmportal.gateway import reload as gateway_reload
from llmportal.portal import Portal

log = logging.getLogger("llmportal.admin.reload")
_MAX_BACKOFF_S = 10.0


class ReloadBroadcast:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.origin = secrets.token_hex(8)
        self.channel = portal.settings.redis_prefix + "models.reload"
        self.received = 0
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()

    async def start(self) -> None:
        if self.portal.settings.redis_url is None:
            return
        self._task = asyncio.create_task(self._listen(), name="models-reload-listener")
        # Subscribed (or refused) before start-up ends, so a reload right after start is heard.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), timeout=2.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self) -> int:
        """How many other processes heard it (0 without Redis, or with Redis away)."""
        if self.portal.redis is None:
            return 0
        try:
            heard = await self.portal.redis.publish(self.channel, self.origin)
        except (RedisError, OSError) as exc:
            log.warning("models reload not broadcast, Redis unreachable: %s", exc)
            return 0
        return max(int(heard) - (1 if self._task is not None else 0), 0)

    async def _listen(self) -> None:
        url = self.portal.settings.redis_url
        assert url is not None
        backoff = 0.5
        while True:
            # Its own connection without a read timeout: a quiet channel is not an error.
            redis = Redis.from_url(url, socket_connect_timeout=1.0, health_check_interval=15)
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._first_attempt.set()
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message" and message["data"] != (
                            self.origin.encode()
                        ):
                            await self._apply()
            except (RedisError, OSError) as exc:
                log.warning("models reload listener lost Redis, retrying: %s", exc)
            finally:
                self._first_attempt.set()
                await redis.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _apply(self) -> None:
        try:
            catalog = load_settings(self.portal.settings.config).catalog
        except ConfigError as exc:
            log.error("models reload from another instance refused here: %s", exc)
            return
        await gateway_reload.reload(self.portal.services["gateway"], catalog)
        self.received += 1
        log.info("models reloaded on another instance's request")
